"""Helpers that turn frames and metrics into Dagster metadata shown in the UI."""

from __future__ import annotations

import dagster as dg
import pandas as pd


def preview(frame: pd.DataFrame, rows: int = 5) -> dg.MetadataValue:
    """A markdown preview; embedding lists are shortened so the table stays readable."""
    head = frame.head(rows).copy()
    for column in head.columns:
        if head[column].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any():
            head[column] = head[column].map(lambda v: f"[{len(v)} floats]" if v is not None else None)
    return dg.MetadataValue.md(head.to_markdown(index=False))


def floats(metrics: dict[str, float]) -> dict[str, dg.MetadataValue]:
    return {name: dg.MetadataValue.float(float(value)) for name, value in metrics.items()}
