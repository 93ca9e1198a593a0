"""What the commands share: one console, the settings they run with, and the tables that more
than one command prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table

from core.settings import RelaySettings, get_settings

if TYPE_CHECKING:
    import pandas as pd

console = Console()


def load_settings() -> RelaySettings:
    """The settings from the environment, with the data directory's folders created."""
    settings = get_settings()
    settings.ensure_dirs()
    return settings


POPULATION_TITLES = {
    "all": "all holdout users",
    "warm": "warm users (history before the cut-off)",
    "cold": "cold users (no history before the cut-off)",
}


def metrics_table(frame: pd.DataFrame) -> Group:
    """The gate's holdout metrics, one table per population, one row per model (``relay run``
    and ``relay demo``)."""
    records = frame.to_dict(orient="records")
    populations = dict.fromkeys(row.get("population", "all") for row in records)
    tables = []
    for population in populations:
        table = Table(title=f"Holdout metrics: {POPULATION_TITLES.get(population, population)}")
        for column in ("candidate", "model", "ndcg@10", "recall@10", "hr@10", "users"):
            table.add_column(column, justify="left" if column in ("candidate", "model") else "right")
        for row in records:
            if row.get("population", "all") == population:
                values = (f"{row[name]:.4f}" for name in ("ndcg@10", "recall@10", "hr@10"))
                table.add_row(row["candidate"], row["model"], *values, str(row["users"]))
        tables.append(table)
    return Group(*tables)
