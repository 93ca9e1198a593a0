"""A compact statistical profile of one landed partition, the input of every statistical rule.

Profiles are computed once at ingest from what the producer sent (exact replays removed), so a
rule compares partitions through a few hundred numbers instead of re-reading weeks of events.
The computation never fails on malformed data: columns it cannot read are simply absent.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from quality.contracts import partition_window
from quality.semantic_profile import semantic_profile

NUMERIC_COLUMNS = ("propensity", "timespent_s", "position")
CATEGORICAL_COLUMNS = ("event_type",)
TOP_VALUES = 5
# Fixed bins so histograms of different days are comparable (PSI needs shared bins).
BINS: dict[str, np.ndarray] = {
    "propensity": np.concatenate([[-np.inf], np.logspace(-8, 0, 17), [np.inf]]),
    "timespent_s": np.concatenate([[-np.inf], np.logspace(-1, 6, 15), [np.inf]]),
    "position": np.concatenate([[-np.inf], np.arange(0.5, 21.5, 1.0), [np.inf]]),
}


def _numeric(series: pd.Series) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    return values[np.isfinite(values)]


def _utc(series: pd.Series) -> pd.Series | None:
    try:
        stamps = pd.to_datetime(series, errors="coerce")
    except (TypeError, ValueError):
        return None
    if getattr(stamps.dt, "tz", None) is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


def _key(value: Any) -> str:
    return json.dumps(value.item() if hasattr(value, "item") else value, default=str)


def profile_partition(
    landed: pd.DataFrame, deduped: pd.DataFrame, day: str, durations: pd.Series | None = None
) -> dict[str, Any]:
    """Numbers the statistical and semantic rules need about one partition (``durations``: the
    catalogue's seconds per item id, for the timespent rule)."""
    rows = len(deduped)
    profile: dict[str, Any] = {
        "date": day,
        "rows_landed": len(landed),
        "rows": rows,
        "duplicates": len(landed) - rows,
        "columns": list(deduped.columns),
        "null_fraction": {},
        "top_values": {},
        "distinct": {},
        "quantiles": {},
        "histograms": {},
        "categories": {},
        "hours": [0] * 24,
        "late": 0,
        "future": 0,
        "item_ids": [],
    }
    for column in deduped.columns:
        series = deduped[column]
        profile["null_fraction"][column] = float(series.isna().mean()) if rows else 0.0
        try:
            shares = series.value_counts(normalize=True, dropna=True).head(TOP_VALUES)
            profile["top_values"][column] = [[_key(v), float(s)] for v, s in shares.items()]
            profile["distinct"][column] = int(series.nunique(dropna=True))
        except TypeError:  # unhashable cells
            profile["top_values"][column] = []
            profile["distinct"][column] = 0
    for column in NUMERIC_COLUMNS:
        if column not in deduped.columns:
            continue
        values = _numeric(deduped[column])
        if column == "timespent_s":
            values = values[values > 0]  # impressions carry 0 by design; the clicks' values matter
        if len(values):
            profile["quantiles"][column] = {
                "p50": float(values.quantile(0.5)),
                "p99": float(values.quantile(0.99)),
                "mean": float(values.mean()),
            }
            profile["histograms"][column] = np.histogram(values, bins=BINS[column])[0].tolist()
    for column in CATEGORICAL_COLUMNS:
        if column in deduped.columns:
            shares = deduped[column].astype(str).value_counts(normalize=True)
            profile["categories"][column] = {str(k): float(v) for k, v in shares.items()}
    if "ts" in deduped.columns and rows:
        stamps = _utc(deduped["ts"])
        if stamps is not None:
            start, end = partition_window(day)
            inside = stamps[(stamps >= start) & (stamps < end)]
            profile["hours"] = np.bincount(inside.dt.hour, minlength=24).tolist()
            profile["late"] = int((stamps < start).sum())
            profile["future"] = int((stamps >= end).sum())
    if "item_id" in deduped.columns:
        ids = pd.to_numeric(deduped["item_id"], errors="coerce").dropna()
        profile["item_ids"] = np.unique(ids.astype("int64")).tolist()
    profile["semantic"] = semantic_profile(deduped, durations)
    return profile
