"""``relay quality DAY``: a partition's accounting, its gate status and its checks;
``relay quality calibrate``: every rule's thresholds fitted on the feed's own history."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import click
import typer
from rich.table import Table
from typer.core import TyperGroup

from relay.cli.console import console, load_settings

if TYPE_CHECKING:
    from quality.calibrate import Calibration


class DayOrCommand(TyperGroup):
    """A group whose first argument is either one of its commands or a day: ``relay quality DAY``
    stays what it always was (``relay quality show DAY``), beside ``relay quality calibrate``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


quality_app = typer.Typer(
    cls=DayOrCommand,
    no_args_is_help=True,
    help="A partition's checks (relay quality DAY), or thresholds fitted on the feed (relay quality calibrate).",
)


@quality_app.command("show")
def quality(day: str = typer.Argument(..., help="Partition (YYYY-MM-DD).")) -> None:
    """Print a partition's accounting, its status and every check's latest result."""
    from quality.records import partition_report

    settings = load_settings()
    report = partition_report(settings, day)
    if report is None:
        raise typer.BadParameter(f"partition {day} has not been ingested in {settings.root}")
    console.print(
        f"[bold]{day}[/bold]: landed {report.rows_landed:,} = clean {report.rows_clean:,} + quarantined "
        f"{report.rows_quarantined:,} + duplicates {report.duplicates_dropped:,} "
        f"({'[green]balanced[/green]' if report.balanced else '[red]DOES NOT BALANCE[/red]'})",
        soft_wrap=True,
    )
    state = "[green]usable[/green]" if report.usable else "[red]BLOCKED[/red]"
    console.print(f"status: {state}" + (f" (override: {report.override})" if report.override else ""), soft_wrap=True)
    if report.reason:
        console.print(f"contract: {report.reason}", soft_wrap=True)
    table = Table(title=f"checks on {day}")
    for column in ("asset", "check", "result", "column"):
        table.add_column(column, no_wrap=True)
    table.add_column("what it saw", overflow="fold")
    for check in report.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]" + (" (blocking)" if check.blocking else "")
        table.add_row(check.asset, check.check_name, mark, check.column_name, check.description)
    console.print(table)


def calibration_table(calibration: Calibration) -> Table:
    """Rule -> default -> fitted, with the days each fit rests on (also printed by ``relay import --live``)."""
    days = calibration.fit_days
    title = (
        f"thresholds fitted on {len(days)} days ({days[0]}..{days[-1]}), "
        f"{calibration.budget.alarms_per_quarter:g} false alarm(s) per quarter across all rules"
    )
    table = Table(title=title)
    for column in ("rule", "threshold", "default", "fitted", "per weekday", "days", "status"):
        table.add_column(column, no_wrap=True, justify="right" if column == "days" else "left")
    for fitted in calibration.fitted:
        weekdays = sorted(set((fitted.by_weekday or {}).values()))
        spread = f"{weekdays[0]:g}..{weekdays[-1]:g}" if len(weekdays) > 1 else ""
        value = f"[bold]{fitted.value:g}[/bold]" if fitted.value != fitted.default else f"{fitted.value:g}"
        table.add_row(fitted.rule, fitted.key, f"{fitted.default:g}", value, spread, str(fitted.days), fitted.status)
    return table


def _iso_day(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)", param_hint="--until") from None


@quality_app.command("calibrate")
def calibrate(
    weeks: int = typer.Option(26, min=1, help="Fit on this many weeks of history, up to --until."),
    alarms_per_quarter: float = typer.Option(
        1.0, help="False alarms per quarter (91 days) that all rules together may raise (> 0)."
    ),
    until: str = typer.Option(None, help="Last day of the fit (default: the last ingested day)."),
) -> None:
    """Fit every rule's thresholds on the feed's own history and write <home>/quality_thresholds.yaml.

    Each threshold is set where its statistic's tail, fitted on the history (volume and partial
    partitions per weekday), puts the budget's share of false alarms; a fitted threshold only widens
    the repository default. `relay import` leaves the file alone afterwards."""
    from quality.calibrate import Budget
    from quality.calibrate_home import calibrate_home

    settings = load_settings()
    try:
        calibration, path = calibrate_home(settings, Budget(weeks, alarms_per_quarter), _iso_day(until))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    console.print(calibration_table(calibration))
    console.print(f"[green]wrote[/green] {path}; every rule is on", soft_wrap=True)
