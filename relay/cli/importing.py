"""``relay import movielens-100k | csv``: a real interaction log as daily raw-log partitions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.settings import RelaySettings
from ingest.importers.guard import DEFAULT_MAX_ROW_BYTES
from relay.cli.console import console, load_settings

if TYPE_CHECKING:
    from ingest.importers.convert import Converted

import_app = typer.Typer(help="Import a real interaction log as daily raw-log partitions.", no_args_is_help=True)
LIVE_HELP = (
    "Import the log as a live feed's history: every rule on, its thresholds fitted on the log "
    "(ingests the days; see `relay quality calibrate`)."
)


def _report_import(converted: Converted, settings: RelaySettings, source: str, live: bool, kept_fitted: bool) -> None:
    """Say what landed; with ``live``, ingest it and print the thresholds fitted on it."""
    console.print(
        f"[green]imported[/green] {converted.interactions:,} interactions as {len(converted.days)} daily partitions "
        f"{converted.first_day}..{converted.last_day} into {settings.landing_dir} "
        f"(partitions now start {converted.first_day})",
        soft_wrap=True,
    )
    if live:
        from ingest.importers.run import go_live
        from relay.cli.quality import calibration_table

        console.print(calibration_table(go_live(settings, converted, source)))
        console.print(f"every rule is on, with the thresholds above in {settings.root / 'quality_thresholds.yaml'}")
    elif kept_fitted:
        console.print(f"kept the fitted thresholds in {settings.root / 'quality_thresholds.yaml'}", soft_wrap=True)
    console.print("next: [bold]relay run[/bold]")


def _holds_fitted_thresholds(settings: RelaySettings) -> bool:
    from quality.calibration_file import FILE_NAME, is_fitted

    return is_fitted(settings.root / FILE_NAME)


@import_app.command("movielens-100k")
def import_movielens_100k(
    negatives: int = typer.Option(4, min=0, help="Unclicked impressions sampled per interaction (0: clicks only)."),
    seed: int = typer.Option(0),
    live: bool = typer.Option(False, "--live", help=LIVE_HELP),
) -> None:
    """MovieLens-100K, carried by the RecBole 1.2.1 wheel (pip download --no-deps; never installed)."""
    from ingest.importers.run import import_movielens

    settings = load_settings()
    kept = _holds_fitted_thresholds(settings)
    converted = import_movielens(settings, negatives=negatives, seed=seed, live=live)
    _report_import(converted, settings, "movielens-100k", live, kept)


@import_app.command("csv")
def import_csv_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with one interaction per row."),
    user_col: str = typer.Option(..., help="Column with user ids (any type)."),
    item_col: str = typer.Option(..., help="Column with item ids (any type)."),
    ts_col: str = typer.Option(..., help="Column with timestamps (ISO text, or epoch numbers with --ts-unit)."),
    rating_col: str = typer.Option(None, help="Optional rating column (kept as engagement)."),
    category_col: str = typer.Option(None, help="Optional item category column."),
    ts_unit: str = typer.Option(None, help="Epoch unit of --ts-col: s, ms, us or ns."),
    negatives: int = typer.Option(4, min=0, help="Unclicked impressions sampled per interaction (0: clicks only)."),
    seed: int = typer.Option(0),
    max_row_bytes: int = typer.Option(
        DEFAULT_MAX_ROW_BYTES, min=1, help="Refuse a row longer than this many bytes (without reading the rest)."
    ),
    live: bool = typer.Option(False, "--live", help=LIVE_HELP),
) -> None:
    """Any interaction log you bring.

    Refused, with the file, line and column: a symlink, FIFO, device or directory instead of a
    regular file; a row over --max-row-bytes; NUL bytes or non-UTF-8 text; an id that starts with
    = + - @ and is not a number (a spreadsheet formula: refused, not rewritten)."""
    from ingest.importers.run import import_csv

    settings = load_settings()
    kept = _holds_fitted_thresholds(settings)
    try:
        columns = (user_col, item_col, ts_col, rating_col, category_col)
        converted = import_csv(settings, path, *columns, ts_unit, negatives, seed, max_row_bytes, live)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    _report_import(converted, settings, f"csv {path.name}", live, kept)
