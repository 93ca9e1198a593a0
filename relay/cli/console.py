"""What the commands share: one console, the settings they run with, and the tables that more
than one command prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
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


def metrics_table(frame: pd.DataFrame) -> Table:
    """The gate's holdout metrics, one row per model (``relay run`` and ``relay demo``)."""
    table = Table(title="Holdout metrics (temporal holdout, full catalogue)")
    labels = ("candidate", "population", "model")
    for column in (*labels, "ndcg@10", "recall@10", "hr@10", "users"):
        table.add_column(column, justify="left" if column in labels else "right")
    for row in frame.to_dict(orient="records"):
        values = (f"{row[name]:.4f}" for name in ("ndcg@10", "recall@10", "hr@10"))
        table.add_row(row["candidate"], row.get("population", "all"), row["model"], *values, str(row["users"]))
    return table
