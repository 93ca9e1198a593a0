"""The simulated world: ``relay simulate``, ``relay incident``, ``relay reland``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from core.settings import RelaySettings
from relay.cli.console import console, load_settings

if TYPE_CHECKING:
    from simulator.world import WorldConfig


def land_world(settings: RelaySettings, config: WorldConfig) -> None:
    """Simulate ``config`` into the data directory and say what landed (``simulate`` and ``demo``)."""
    from simulator.simulate import simulate_into

    summary = simulate_into(settings, config)
    console.print(
        f"[green]landed[/green] {summary.days} days {summary.first_day}..{summary.last_day}: "
        f"{summary.events:,} events ({summary.impressions:,} impressions, {summary.clicks:,} clicks, "
        f"CTR {summary.ctr:.2%}) in {settings.landing_dir}"
    )


def simulate(
    days: int = typer.Option(60, min=1, help="Number of daily partitions to land."),
    users: int = typer.Option(2_000, min=1),
    items: int = typer.Option(1_000, min=10),
    seed: int = typer.Option(7),
    start: str = typer.Option("2026-01-05", help="First day (UTC, YYYY-MM-DD)."),
    sessions_per_user_day: float = typer.Option(0.45, min=0.0),
) -> None:
    """Generate a seeded synthetic world and land one raw-log parquet file per day."""
    from simulator.world import WorldConfig

    config = WorldConfig(
        n_users=users,
        n_items=items,
        n_days=days,
        seed=seed,
        start_date=start,
        sessions_per_user_day=sessions_per_user_day,
    )
    land_world(load_settings(), config)


def incident(
    kind: str = typer.Argument(None, help="Incident kind (see --list)."),
    day: str = typer.Option(None, "--date", help="Partition to corrupt (YYYY-MM-DD)."),
    seed: int = typer.Option(0, help="Seed of the rows the incident picks."),
    list_kinds: bool = typer.Option(False, "--list", help="List the incident kinds and exit."),
) -> None:
    """Corrupt one partition of the simulated world with a named data incident."""
    from simulator.incidents import INCIDENTS

    if list_kinds or kind is None:
        table = Table(title="Data incidents")
        table.add_column("kind")
        table.add_column("target")
        table.add_column("what happens")
        for item in INCIDENTS.values():
            table.add_row(item.name, item.target, item.description)
        console.print(table)
        return
    if day is None:
        raise typer.BadParameter("--date is required", param_hint="--date")
    from core.days import iso_day
    from simulator.inject import inject_incident

    try:
        iso_day(day)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--date'") from error

    try:
        console.print(f"[red]injected[/red] {inject_incident(load_settings(), kind, day, seed)}")
    except (KeyError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error


def reland(day: str = typer.Argument(..., help="Partition to re-deliver (YYYY-MM-DD).")) -> None:
    """Re-deliver a clean copy of a simulated day (the producer fixed its feed)."""
    from simulator.inject import reland_day

    console.print(f"re-landed {reland_day(load_settings(), day)} (the previous file is kept in landing/_superseded)")
