"""``relay quality DAY``: a partition's accounting, its gate status and its checks."""

from __future__ import annotations

import typer
from rich.table import Table

from relay.cli.console import console, load_settings


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
