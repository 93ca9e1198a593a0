"""Land an imported interaction log: daily partitions, the catalogue, and the dataset's span
(so the Dagster partitions cover exactly the data's dates: a dump ends on its last day)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.landing import write_catalog, write_partition
from core.schema import empty_raw_logs
from core.settings import RelaySettings, record_dataset
from features.build import day_range
from ingest.importers.convert import CATALOG_DURATION_S, Converted, dense_ids, interactions_to_raw_logs
from ingest.importers.guard import (
    DEFAULT_MAX_ROW_BYTES,
    ImportRejected,
    open_regular_file,
    refuse_formula_ids,
    row_label,
    scan_csv,
    shown,
)
from ingest.importers.movielens import fetch_wheel, load
from ingest.partition import ingest_days
from quality.calibrate import Budget, Calibration
from quality.calibrate_home import calibrate_home
from quality.calibration_file import FILE_NAME, is_fitted
from quality.records import record_override

HISTORICAL_THRESHOLDS = """\
# Written by `relay import`: this data directory holds a historical dump, not a live feed.
# In a dump a day is often one user rating dozens of items in one sitting, or nobody at all:
# the rules that model a steady live stream (who is active, which items are popular) would flag
# every such day. They are off here; the contract, duplicates, late/future timestamps, nulls,
# unit shifts, repeated partitions, reused ids and the relationships between events still guard it.
# (`relay import ... --live` keeps every rule on and fits its thresholds to the log instead.)
volume: {enabled: false}
partial_partition: {enabled: false}
single_value_share: {enabled: false}
constant_columns: {enabled: false}
categorical_drift: {enabled: false}
numeric_drift: {enabled: false}
unknown_ids: {enabled: false}
item_popularity: {enabled: false}
user_distribution: {enabled: false}
active_users: {enabled: false}
user_activity: {enabled: false}
"""
HISTORICAL_FIRST_LINE = HISTORICAL_THRESHOLDS.splitlines()[0]


def import_thresholds(settings: RelaySettings, live: bool) -> None:
    """Set the home's thresholds file for an imported log.

    Fitted thresholds (``relay quality calibrate``) are never overwritten. A historical dump gets
    ``HISTORICAL_THRESHOLDS``; a live feed gets every rule on (an earlier dump's file is removed)."""
    path = settings.root / FILE_NAME
    if is_fitted(path):
        return
    if not live:
        path.write_text(HISTORICAL_THRESHOLDS)
    elif path.is_file() and path.read_text().startswith(HISTORICAL_FIRST_LINE):
        path.unlink()


def go_live(settings: RelaySettings, converted: Converted, source: str, budget: Budget | None = None) -> Calibration:
    """Ingest the landed log and fit every rule's thresholds on its whole history (the budget's
    weeks if given), for the days to come: ``<home>/quality_thresholds.yaml``."""
    days = day_range(converted.first_day, converted.last_day)
    ingest_days(settings, days)
    whole_history = Budget(weeks=max(1, -(-len(days) // 7)))
    return calibrate_home(settings, budget or whole_history, source=f"relay import {source} --live")[0]


def land(settings: RelaySettings, converted: Converted, source: str, live: bool = False) -> Path:
    """Write every day and the catalogue to landing; record the dump's first and last day.

    A historical log can have days without a single interaction. Such a day lands as an empty
    partition, explicitly accepted (an override recorded with its reason), so the contract's
    "empty partition" rule still guards live feeds while the dump's real gaps are not incidents.
    ``live``: the log is the history of a live feed, so no rule is switched off (``go_live`` then
    fits its thresholds). The span stays "historical" either way: the log still ends on its last day.
    """
    for day in day_range(converted.first_day, converted.last_day):
        frame = converted.days.get(day)
        if frame is None:
            write_partition(settings.landing_dir, day, empty_raw_logs())
            record_override(settings, day, "no interactions on this day in the imported log", f"relay import {source}")
        else:
            write_partition(settings.landing_dir, day, frame)
    write_catalog(settings.landing_dir, converted.catalog)
    import_thresholds(settings, live)
    return record_dataset(settings, converted.first_day, source, converted.last_day, "historical")


def import_movielens(settings: RelaySettings, negatives: int = 4, seed: int = 0, live: bool = False) -> Converted:
    movielens = load(fetch_wheel(settings.root / "cache" / "wheels"))
    interactions = movielens.interactions.sort_values("file_order", kind="stable")
    interactions = interactions.assign(ts=pd.to_datetime(interactions["timestamp"], unit="s", utc=True))
    genres = movielens.items["genres"].str.split(" ").str[0].fillna("unknown")
    names = sorted(genres.unique())
    catalog = pd.DataFrame(
        {
            "item_id": movielens.items["item_id"].astype("int64"),
            "category": genres.map({name: i for i, name in enumerate(names)}).astype("int64"),
            "duration_s": CATALOG_DURATION_S,
        }
    )
    converted = interactions_to_raw_logs(
        interactions[["user_id", "item_id", "ts", "rating"]], catalog, negatives=negatives, seed=seed, source="ml100k"
    )
    land(settings, converted, "movielens-100k", live)
    return converted


TS_UNITS = ("s", "ms", "us", "ns")
MAX_SPAN_DAYS = 50 * 366  # one empty partition lands per day in between: a stray year-9999 stamp is not a log


def _source_name(path: Path) -> str:
    """The file's stem as a safe folder name: ``...csv`` must not name ``imports/..``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", Path(path).stem).strip("_") or "import"


def _columns_by_option(
    user_col: str, item_col: str, ts_col: str, rating_col: str | None, category_col: str | None
) -> dict[str, str]:
    """Each column the command names, keyed by the option that named it (errors cite the option)."""
    named = {"--user-col": user_col, "--item-col": item_col, "--ts-col": ts_col}
    optional = {"--rating-col": rating_col, "--category-col": category_col}
    return named | {option: column for option, column in optional.items() if column is not None}


def _listed(columns: list[str]) -> str:
    return f"[{', '.join(shown(column) for column in columns)}]"


def _read_guarded_csv(path: Path, options: dict[str, str], max_row_bytes: int) -> tuple[pd.DataFrame, bool]:
    """The file's rows after the byte-level guards, the named columns present and at least one row;
    also whether line numbers equal row numbers (for the errors that name a row)."""
    with open_regular_file(path) as stream:
        scanned = scan_csv(stream, str(path), max_row_bytes)
        missing = {option: column for option, column in options.items() if column not in scanned.header}
        if missing:
            names = ", ".join(f"{shown(column)} ({option})" for option, column in missing.items())
            raise ImportRejected(
                f"{path}: no column(s) {_listed(list(missing.values()))}: {names}; "
                f"the file has {_listed(scanned.header[:50])}"
            )
        if not scanned.rows:
            raise ImportRejected(f"{path}: no rows")
        stream.seek(0)
        try:
            return pd.read_csv(stream, encoding="utf-8"), scanned.lines_match_rows
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ImportRejected(f"{path}: {error}") from None


def _timestamps(raw: pd.DataFrame, path: Path, ts_col: str, ts_unit: str | None, lines_match_rows: bool) -> pd.Series:
    """UTC stamps; an unparseable one or a span of more than ``MAX_SPAN_DAYS`` is refused with its row."""
    if ts_unit is not None and ts_unit not in TS_UNITS:
        raise ImportRejected(f"--ts-unit must be one of {', '.join(TS_UNITS)}; got {shown(ts_unit)}")
    values = pd.to_numeric(raw[ts_col], errors="coerce") if ts_unit else raw[ts_col]
    ts = pd.to_datetime(values, unit=ts_unit, utc=True, errors="coerce")
    if ts.isna().any():
        index = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise ImportRejected(
            f"{path}, {row_label(index, lines_match_rows)}, column {shown(ts_col)} (--ts-col): "
            f"{shown(raw[ts_col].iloc[index])} is not a timestamp ({int(ts.isna().sum())} unparseable timestamps)"
        )
    span = (ts.max() - ts.min()).days
    if span > MAX_SPAN_DAYS:
        late = row_label(int(ts.to_numpy().argmax()), lines_match_rows)
        raise ImportRejected(
            f"{path}, column {shown(ts_col)} (--ts-col): the stamps span {span:,} days "
            f"(more than {MAX_SPAN_DAYS:,}); the latest, {ts.max()}, is on {late}"
        )
    return ts


def import_csv(
    settings: RelaySettings,
    path: Path,
    user_col: str,
    item_col: str,
    ts_col: str,
    rating_col: str | None = None,
    category_col: str | None = None,
    ts_unit: str | None = None,
    negatives: int = 4,
    seed: int = 0,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    live: bool = False,
) -> Converted:
    """Any interaction log: ids may be arbitrary strings (mapped to 1..N, mappings kept), the
    timestamp epoch numbers (``ts_unit``) or ISO text (assumed UTC when naive). Hostile files are
    refused before anything lands (``ingest.importers.guard``)."""
    options = _columns_by_option(user_col, item_col, ts_col, rating_col, category_col)
    raw, lines_match_rows = _read_guarded_csv(path, options, max_row_bytes)
    ids = {option: options[option] for option in ("--user-col", "--item-col", "--category-col") if option in options}
    refuse_formula_ids(raw, ids, str(path), lines_match_rows)
    ts = _timestamps(raw, path, ts_col, ts_unit, lines_match_rows)
    users, user_map = dense_ids(raw[user_col])
    items, item_map = dense_ids(raw[item_col])
    interactions = pd.DataFrame({"user_id": users, "item_id": items, "ts": ts})
    if rating_col:
        interactions["rating"] = pd.to_numeric(raw[rating_col], errors="coerce").fillna(0.0)
    categories = (
        dense_ids(raw[category_col])[0].groupby(items).first().sub(1)
        if category_col
        else pd.Series(0, index=np.unique(items))
    )
    catalog = pd.DataFrame(
        {
            "item_id": categories.index.astype("int64"),
            "category": categories.to_numpy(np.int64),
            "duration_s": CATALOG_DURATION_S,
        }
    )
    source = _source_name(path)
    converted = interactions_to_raw_logs(interactions, catalog, negatives=negatives, seed=seed, source=source)
    mappings = settings.root / "imports" / source
    mappings.mkdir(parents=True, exist_ok=True)
    user_map.to_csv(mappings / "users.csv", index=False)
    item_map.to_csv(mappings / "items.csv", index=False)
    land(settings, converted, f"csv:{path}", live)
    return converted
