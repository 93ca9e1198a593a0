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
    for column in ("candidate", "model", "ndcg@10", "recall@10", "hr@10", "users"):
        table.add_column(column, justify="left" if column in ("candidate", "model") else "right")
    for row in frame.itertuples(index=False):
        table.add_row(row.candidate, row.model, f"{row[2]:.4f}", f"{row[3]:.4f}", f"{row[4]:.4f}", str(row.users))
    return table
