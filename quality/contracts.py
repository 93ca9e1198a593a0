"""Pandera contracts for the tables that cross asset boundaries.

One ``DataFrameModel`` per table, strict (no unexpected columns) and validated lazily so a
bad partition reports every failure at once. Models hold only what is true of every
partition; partition-specific rules (the timestamp window) are added by ``for_partition``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from core.schema import EVENT_TYPES
from feature_repo.tables import (
    ITEM_FEATURES,
    MAX_TIMESPENT_S,
    RANKER_FEATURES,
    SCORE_LIMIT,
    SPECS,
    TABLE_KEYS,
    USER_CATEGORY_FEATURES,
    USER_FEATURES,
    FeatureSpec,
    table_specs,
)

UtcTimestamp = Annotated[pd.DatetimeTZDtype, "ns", "UTC"]
MAX_POSITION = 1_000


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


class ItemCatalog(pa.DataFrameModel):
    """The item catalogue producers publish: one row per item."""

    item_id: Series[int] = pa.Field(ge=1, unique=True)
    category: Series[int] = pa.Field(ge=0)
    duration_s: Series[float] = pa.Field(gt=0.0, le=MAX_TIMESPENT_S)

    class Config:
        strict = True


class _KeyedFeatureRow(pa.DataFrameModel):
    """Common columns of the daily feature tables, and their unique key (no join fan-out)."""

    event_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    created_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    date: Series[str] = pa.Field(nullable=False, str_matches=r"^\d{4}-\d{2}-\d{2}$")

    class Config:
        strict = True
        coerce = False

    @classmethod
    def key_columns(cls) -> list[str]:
        return ["event_timestamp"]

    @pa.dataframe_check(error="duplicate keys would fan out joins")
    def unique_key(cls, frame: pd.DataFrame) -> pd.Series:
        return ~frame.duplicated(cls.key_columns(), keep=False)


def _field(spec: FeatureSpec) -> tuple[object, object]:
    annotation = Series[int] if spec.kind == "int64" else Series[float]
    return annotation, pa.Field(ge=spec.low, le=spec.high, nullable=spec.nullable)


def _model(
    name: str, base: type[pa.DataFrameModel], columns: dict[str, tuple[object, object]], doc: str, **attributes: object
) -> type[pa.DataFrameModel]:
    """A DataFrameModel subclass built from specs, so contracts cannot drift from the SQL."""
    namespace = {"__annotations__": {k: a for k, (a, _) in columns.items()}, "__doc__": doc, **attributes}
    namespace.update({k: f for k, (_, f) in columns.items()})
    return type(name, (base,), namespace)


def _feature_table_model(name: str, table: str) -> type[pa.DataFrameModel]:
    keys = {key: (Series[int], pa.Field(ge=0 if key == "category" else 1)) for key in TABLE_KEYS[table]}
    columns = {**keys, **{spec.name: _field(spec) for spec in table_specs(table)}}
    key = [*TABLE_KEYS[table], "event_timestamp"]
    doc = f"One row per {' x '.join(TABLE_KEYS[table])} and as-of day."
    return _model(name, _KeyedFeatureRow, columns, doc, key_columns=classmethod(lambda cls: key))


UserFeatures = _feature_table_model("UserFeatures", USER_FEATURES)
ItemFeatures = _feature_table_model("ItemFeatures", ITEM_FEATURES)
UserCategoryFeatures = _feature_table_model("UserCategoryFeatures", USER_CATEGORY_FEATURES)


class _TrainingRow(pa.DataFrameModel):
    session_id: Series[str] = pa.Field(nullable=False)
    user_id: Series[int] = pa.Field(ge=1)
    item_id: Series[int] = pa.Field(ge=1)
    ts: Series[UtcTimestamp] = pa.Field(nullable=False)
    position: Series[int] = pa.Field(ge=1, le=MAX_POSITION)
    label: Series[int] = pa.Field(isin=[0, 1])
    weight: Series[float] = pa.Field(gt=0)  # 1 / propensity for logged impressions, 1 for candidates
    source: Series[str] = pa.Field(isin=["candidate", "impression", "calibration"])

    class Config:
        strict = True
        unique = ["session_id", "item_id"]


def _ranker_column(spec: FeatureSpec) -> tuple[object, object]:
    # After retrieval every feature is float64; absent entities are filled, undefined ratios stay null.
    nullable = spec.nullable or spec.fill is None
    low = spec.low if spec.fill is None or spec.low is None else min(spec.low, spec.fill)
    return Series[float], pa.Field(ge=low, le=spec.high, nullable=nullable)


RankerTrainingSet = _model(
    "RankerTrainingSet",
    _TrainingRow,
    {name: _ranker_column(SPECS[name]) for name in RANKER_FEATURES},
    "Labelled impressions with point-in-time features: one row per (session, item).",
)


def _finite_vectors(series: pd.Series) -> bool:
    lengths = series.map(len)
    return bool(lengths.nunique() <= 1 and (lengths > 0).all() and np.isfinite(np.stack(series.to_numpy())).all())


class UserEmbeddings(pa.DataFrameModel):
    """As-of-day user embeddings of one model version."""

    user_id: Series[int] = pa.Field(ge=1)
    event_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    user_embedding: Series[object] = pa.Field(nullable=False)
    recent_items: Series[object] = pa.Field(nullable=False)
    created_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    embedding_version: Series[int] = pa.Field(ge=1)

    class Config:
        strict = True
        unique = ["user_id", "event_timestamp"]

    @pa.check("user_embedding", element_wise=False, error="vectors must be non-empty, finite and of one length")
    def finite_vectors(cls, series: pd.Series) -> bool:
        return _finite_vectors(series)


class ItemEmbeddings(pa.DataFrameModel):
    """Item embeddings of one model version, one row per item."""

    item_id: Series[int] = pa.Field(ge=1, unique=True)
    event_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    item_embedding: Series[object] = pa.Field(nullable=False)
    created_timestamp: Series[UtcTimestamp] = pa.Field(nullable=False)
    embedding_version: Series[int] = pa.Field(ge=1)

    class Config:
        strict = True

    @pa.check("item_embedding", element_wise=False, error="vectors must be non-empty, finite and of one length")
    def finite_vectors(cls, series: pd.Series) -> bool:
        return _finite_vectors(series)


class ScoredCandidates(pa.DataFrameModel):
    """A ranked list per user: finite scores, ranks from 1, each item once per user."""

    user_id: Series[int] = pa.Field(ge=1)
    item_id: Series[int] = pa.Field(ge=1)
    score: Series[float] = pa.Field(nullable=False, ge=-SCORE_LIMIT, le=SCORE_LIMIT)
    rank: Series[int] = pa.Field(ge=1)

    class Config:
        strict = True
        unique = ["user_id", "item_id"]


def for_window(
    model: type[pa.DataFrameModel], start: pd.Timestamp, end: pd.Timestamp, column: str = "ts"
) -> pa.DataFrameSchema:
    """The model's schema plus the rule that ``column`` falls inside [start, end)."""
    schema = model.to_schema()
    rule = pa.Check.in_range(start, end, include_max=False, error=f"{column} outside the window [{start}, {end})")
    return schema.update_column(column, checks=[*schema.columns[column].checks, rule])


def feature_bounds(*models: type[pa.DataFrameModel]) -> dict[str, tuple[float | None, float | None]]:
    """(low, high) of every numeric column from the contracts' range checks: one source of truth
    for validation and for the training/serving guard."""
    bounds: dict[str, tuple[float | None, float | None]] = {}
    for model in models:
        for name, column in model.to_schema().columns.items():
            low = high = None
            for check in column.checks:
                stats = check.statistics or {}
                if check.name in ("greater_than_or_equal_to", "greater_than"):
                    low = float(stats["min_value"])
                elif check.name in ("less_than_or_equal_to", "less_than"):
                    high = float(stats["max_value"])
                elif check.name == "in_range" and not isinstance(stats.get("min_value"), pd.Timestamp):
                    low, high = float(stats["min_value"]), float(stats["max_value"])
            if low is not None or high is not None:
                bounds[name] = (low, high)
    return bounds
