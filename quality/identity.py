"""Cross-partition identity: event ids that a partition shares with partitions already stored.

A producer that re-sends yesterday's events under today's date passes every per-partition
check: the ids are unique within the day. Only the lake knows they were stored before. The
lookup reads the ``event_id`` column of the stored clean partitions within ``window_days`` on
either side (a backfill can land days out of order), so its cost does not grow with the lake.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd

from core import lake
from core.settings import RelaySettings


def neighbour_partitions(settings: RelaySettings, day: str, window_days: int) -> list[str]:
    """Paths of the stored clean partitions within ``window_days`` of ``day``, ``day`` excluded."""
    directory = lake.table_dir(settings, lake.EVENTS)
    centre = date.fromisoformat(day)
    paths = []
    for offset in range(-window_days, window_days + 1):
        other = (centre + timedelta(days=offset)).isoformat()
        path = lake.partition_dir(directory, other) / "part.parquet"
        if offset and path.exists():
            paths.append(str(path))
    return paths


def event_ids_stored_elsewhere(settings: RelaySettings, day: str, event_ids: pd.Series, window_days: int) -> int:
    """How many of ``event_ids`` (the partition's, deduplicated) another stored partition holds."""
    paths = neighbour_partitions(settings, day, window_days)
    if not paths or event_ids.empty:
        return 0
    incoming = pd.DataFrame({"event_id": event_ids.astype(str).unique()})
    with duckdb.connect() as con:
        con.register("incoming", incoming)
        return int(
            con.execute(
                # union_by_name: an empty day's file types event_id as NULL, which must not set the schema
                "SELECT count(*) FROM incoming WHERE event_id IN "
                "(SELECT CAST(event_id AS VARCHAR) FROM read_parquet($paths, union_by_name = true))",
                {"paths": paths},
            ).fetchone()[0]
        )
