"""Relay's raw-log schema: the columns every producer (the simulator, importers, serving's
feedback log) writes into the landing area."""

from __future__ import annotations

import pandas as pd

RAW_LOG_COLUMNS = [
    "event_id",
    "ts",
    "user_id",
    "item_id",
    "event_type",
    "position",
    "propensity",
    "timespent_s",
    "session_id",
]
EVENT_TYPES = ("impression", "click")


def empty_raw_logs() -> pd.DataFrame:
    """Zero rows with the raw-log dtypes."""
    return pd.DataFrame(
        {
            "event_id": pd.Series(dtype=str),
            "ts": pd.Series(dtype="datetime64[ns, UTC]"),
            "user_id": pd.Series(dtype="int64"),
            "item_id": pd.Series(dtype="int64"),
            "event_type": pd.Series(dtype=str),
            "position": pd.Series(dtype="int64"),
            "propensity": pd.Series(dtype="float64"),
            "timespent_s": pd.Series(dtype="float64"),
            "session_id": pd.Series(dtype=str),
        }
    )
