"""Land an imported interaction log: daily partitions, the catalogue, and the dataset's span
(so the Dagster partitions cover exactly the data's dates: a dump ends on its last day)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.landing import write_catalog, write_partition
from core.schema import empty_raw_logs
from core.settings import RelaySettings, record_dataset
from features.build import day_range
from ingest.importers.convert import CATALOG_DURATION_S, Converted, dense_ids, interactions_to_raw_logs
from ingest.importers.movielens import fetch_wheel, load
from quality.records import record_override

HISTORICAL_THRESHOLDS = """\
# Written by `relay import`: this data directory holds a historical dump, not a live feed.
# In a dump a day is often one user rating dozens of items in one sitting, or nobody at all:
# the rules that model a steady live stream would flag every such day. They are off here;
# the contract, duplicates, late/future timestamps, nulls and unit shifts still guard the data.
volume: {enabled: false}
partial_partition: {enabled: false}
single_value_share: {enabled: false}
constant_columns: {enabled: false}
categorical_drift: {enabled: false}
numeric_drift: {enabled: false}
unknown_ids: {enabled: false}
"""


def land(settings: RelaySettings, converted: Converted, source: str) -> Path:
    """Write every day and the catalogue to landing; record the dump's first and last day.

    A historical log can have days without a single interaction. Such a day lands as an empty
    partition, explicitly accepted (an override recorded with its reason), so the contract's
    "empty partition" rule still guards live feeds while the dump's real gaps are not incidents.
    """
    for day in day_range(converted.first_day, converted.last_day):
        frame = converted.days.get(day)
        if frame is None:
            write_partition(settings.landing_dir, day, empty_raw_logs())
            record_override(settings, day, "no interactions on this day in the imported log", f"relay import {source}")
        else:
            write_partition(settings.landing_dir, day, frame)
    write_catalog(settings.landing_dir, converted.catalog)
    (settings.root / "quality_thresholds.yaml").write_text(HISTORICAL_THRESHOLDS)
    return record_dataset(settings, converted.first_day, source, converted.last_day, "historical")


def import_movielens(settings: RelaySettings, negatives: int = 4, seed: int = 0) -> Converted:
    movielens = load(fetch_wheel(settings.root / "cache" / "wheels"))
    interactions = movielens.interactions.sort_values("file_order", kind="stable")
    interactions = interactions.assign(ts=pd.to_datetime(interactions["timestamp"], unit="s", utc=True))
    genres = movielens.items["genres"].str.split(" ").str[0].fillna("unknown")
    names = sorted(genres.unique())
    catalog = pd.DataFrame(
        {
            "item_id": movielens.items["item_id"].astype("int64"),
            "category": genres.map({name: i for i, name in enumerate(names)}).astype("int64"),
            "duration_s": CATALOG_DURATION_S,
        }
    )
    converted = interactions_to_raw_logs(
        interactions[["user_id", "item_id", "ts", "rating"]], catalog, negatives=negatives, seed=seed, source="ml100k"
    )
    land(settings, converted, "movielens-100k")
    return converted


def import_csv(
    settings: RelaySettings,
    path: Path,
    user_col: str,
    item_col: str,
    ts_col: str,
    rating_col: str | None = None,
    category_col: str | None = None,
    ts_unit: str | None = None,
    negatives: int = 4,
    seed: int = 0,
) -> Converted:
    """Any interaction log: ids may be arbitrary strings (mapped to 1..N, mappings kept), the
    timestamp epoch numbers (``ts_unit``) or ISO text (assumed UTC when naive)."""
    raw = pd.read_csv(path)
    needed = [c for c in (user_col, item_col, ts_col, rating_col, category_col) if c]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing}; the file has {list(raw.columns)}")
    if raw.empty:
        raise ValueError(f"{path}: no rows")
    ts = pd.to_datetime(raw[ts_col], unit=ts_unit, utc=True) if ts_unit else pd.to_datetime(raw[ts_col], utc=True)
    if ts.isna().any():
        raise ValueError(f"{path}: column {ts_col!r} has {int(ts.isna().sum())} unparseable timestamps")
    users, user_map = dense_ids(raw[user_col])
    items, item_map = dense_ids(raw[item_col])
    interactions = pd.DataFrame({"user_id": users, "item_id": items, "ts": ts})
    if rating_col:
        interactions["rating"] = pd.to_numeric(raw[rating_col], errors="coerce").fillna(0.0)
    categories = (
        dense_ids(raw[category_col])[0].groupby(items).first().sub(1)
        if category_col
        else pd.Series(0, index=np.unique(items))
    )
    catalog = pd.DataFrame(
        {
            "item_id": categories.index.astype("int64"),
            "category": categories.to_numpy(np.int64),
            "duration_s": CATALOG_DURATION_S,
        }
    )
    source = Path(path).stem
    converted = interactions_to_raw_logs(interactions, catalog, negatives=negatives, seed=seed, source=source)
    mappings = settings.root / "imports" / source
    mappings.mkdir(parents=True, exist_ok=True)
    user_map.to_csv(mappings / "users.csv", index=False)
    item_map.to_csv(mappings / "items.csv", index=False)
    land(settings, converted, f"csv:{path}")
    return converted
