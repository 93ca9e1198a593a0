"""Pandera contracts for the tables that cross asset boundaries.

One ``DataFrameModel`` per table, strict (no unexpected columns) and validated lazily so a
bad partition reports every failure at once. Models hold only what is true of every
partition; partition-specific rules (the timestamp window) are added by ``for_partition``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from simulator.generate import EVENT_TYPES

UtcTimestamp = Annotated[pd.DatetimeTZDtype, "ns", "UTC"]
MAX_POSITION = 1_000
MAX_TIMESPENT_S = 24 * 3600.0


class RawLogs(pa.DataFrameModel):
    """A landing partition of raw logs, exactly as producers must write it."""

    event_id: Series[str] = pa.Field(unique=True, nullable=False, str_length={"min_value": 1})
    ts: Series[UtcTimestamp] = pa.Field(nullable=False)
    user_id: Series[int] = pa.Field(ge=1, nullable=False)
    item_id: Series[int] = pa.Field(ge=1, nullable=False)
    event_type: Series[str] = pa.Field(isin=list(EVENT_TYPES), nullable=False)
    position: Series[int] = pa.Field(ge=1, le=MAX_POSITION, nullable=False)
    propensity: Series[float] = pa.Field(gt=0.0, le=1.0, nullable=False)
    timespent_s: Series[float] = pa.Field(ge=0.0, le=MAX_TIMESPENT_S, nullable=False)
    session_id: Series[str] = pa.Field(nullable=False, str_length={"min_value": 1})

    class Config:
        strict = True
        coerce = False
        ordered = False


class CleanEvents(RawLogs):
    """Clean events in the lake: raw-log columns that passed the contract, plus their partition."""

    date: Series[str] = pa.Field(nullable=False, str_matches=r"^\d{4}-\d{2}-\d{2}$")


def partition_window(day: str | date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of a daily partition in UTC."""
    start_day = date.fromisoformat(day) if isinstance(day, str) else day
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC)
    return pd.Timestamp(start), pd.Timestamp(start + timedelta(days=1))


def for_partition(model: type[pa.DataFrameModel], day: str | date) -> pa.DataFrameSchema:
    """The model's schema plus the rule that every ``ts`` falls inside the partition's day."""
    schema = model.to_schema()
    start, end = partition_window(day)
    in_window = pa.Check.in_range(start, end, include_max=False, error=f"ts outside partition {day} [{start}, {end})")
    return schema.update_column("ts", checks=[*schema.columns["ts"].checks, in_window])


class _FeatureRow(pa.DataFrameModel):
    event_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    created_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    date: Series[str] = pa.Field(nullable=False, str_matches=r"^\d{4}-\d{2}-\d{2}$")

    class Config:
        strict = True
        coerce = False


class UserFeatures(_FeatureRow):
    """One row per (user, as-of day); counts are non-negative, ratios in [0, 1] or null."""

    user_id: Series[int] = pa.Field(ge=1)
    user_impressions_7d: Series[int] = pa.Field(ge=0)
    user_clicks_7d: Series[int] = pa.Field(ge=0)
    user_ctr_7d: Series[float] = pa.Field(ge=0.0, le=1.0, nullable=True)
    user_timespent_mean_7d: Series[float] = pa.Field(ge=0.0, nullable=True)
    user_clicks_30d: Series[int] = pa.Field(ge=0)
    user_active_days_30d: Series[int] = pa.Field(ge=1, le=30)

    @pa.dataframe_check(error="duplicate (user_id, event_timestamp) rows would fan out joins")
    def unique_key(cls, frame: pd.DataFrame) -> bool:
        return not frame.duplicated(["user_id", "event_timestamp"]).any()


class ItemFeatures(_FeatureRow):
    """One row per (item, as-of day)."""

    item_id: Series[int] = pa.Field(ge=1)
    item_impressions_7d: Series[int] = pa.Field(ge=0)
    item_clicks_7d: Series[int] = pa.Field(ge=0)
    item_ctr_7d: Series[float] = pa.Field(ge=0.0, le=1.0, nullable=True)
    item_timespent_mean_7d: Series[float] = pa.Field(ge=0.0, nullable=True)
    item_clicks_30d: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check(error="duplicate (item_id, event_timestamp) rows would fan out joins")
    def unique_key(cls, frame: pd.DataFrame) -> bool:
        return not frame.duplicated(["item_id", "event_timestamp"]).any()
