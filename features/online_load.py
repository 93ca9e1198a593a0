"""Load daily feature partitions into Feast's online store, incrementally.

Rows of day D are stamped at D+1 00:00 (what was known at the end of D), so the stamps to load
for partitions [start, end) are (start + 1 day, end + 1 day].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from feast import FeatureStore

from core.settings import RelaySettings
from feature_repo.tables import FEATURE_TABLES, WINDOWS
from features.build import count_feature_rows

ONLINE_DAYS = max(WINDOWS) + 2  # the longest window, the tombstone day, and one day of slack


@dataclass(frozen=True)
class OnlineLoad:
    window_start: datetime
    window_end: datetime
    days_loaded: int
    rows: dict[str, int]  # feature table -> rows in the loaded partitions
    seconds: float


def online_window(store: FeatureStore, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The stamps to load for partitions [start, end).

    The online store keeps each entity's latest row (Feast loads the latest per entity of a
    window), so a long backfill only needs its last ONLINE_DAYS days: an entity idle for longer
    already has its tombstone row there, which reads exactly like no row. That shortcut is
    taken only when the store holds nothing older that such an entity could be stale from.
    """
    first, stop = start + timedelta(days=1), end + timedelta(days=1)
    shortcut = stop - timedelta(days=ONLINE_DAYS)
    loaded = [store.get_feature_view(t).most_recent_end_time for t in FEATURE_TABLES]
    previous = None if any(v is None for v in loaded) else min(loaded)
    if previous is not None and previous < shortcut:
        shortcut = previous
    return max(first, shortcut), stop


def load_online(
    store: FeatureStore, settings: RelaySettings, days: list[str], start: datetime, end: datetime
) -> OnlineLoad:
    """Materialize the feature views for partitions ``days`` = [start, end) (UTC)."""
    window_start, window_end = online_window(store, start, end)
    loaded_days = [d for d in days if d >= (window_start - timedelta(days=1)).strftime("%Y-%m-%d")]
    began = datetime.now(window_start.tzinfo)
    store.materialize(start_date=window_start, end_date=window_end, feature_views=list(FEATURE_TABLES))
    rows = count_feature_rows(settings.features_dir, loaded_days)
    seconds = (datetime.now(window_start.tzinfo) - began).total_seconds()
    return OnlineLoad(window_start, window_end, len(loaded_days), rows, seconds)
