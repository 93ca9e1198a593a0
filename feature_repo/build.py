"""Run the feature SQL in DuckDB and write one parquet partition per day.

Listed in ``.feastignore``: it computes data, it does not define Feast objects.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from feature_repo.tables import ITEM_FEATURE_COLUMNS, ITEM_FEATURES, USER_FEATURE_COLUMNS, USER_FEATURES, table_dir
from relay.lake import partition_dir, write_partition

SQL_DIR = Path(__file__).resolve().parent / "sql"
TABLE_COLUMNS = {USER_FEATURES: USER_FEATURE_COLUMNS, ITEM_FEATURES: ITEM_FEATURE_COLUMNS}
ENTITY_KEY = {USER_FEATURES: "user_id", ITEM_FEATURES: "item_id"}


def feature_sql(table: str) -> str:
    return (SQL_DIR / f"{table}.sql").read_text()


def day_range(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError(f"empty day range: start {start} is after end {end}")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def compute_feature_table(con: duckdb.DuckDBPyConnection, table: str, start: str, end: str) -> pd.DataFrame:
    """Feature rows for as-of days [start, end], typed as the feature table's contract says."""
    frame = con.execute(feature_sql(table), {"start": start, "end": end}).df()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True).astype("datetime64[ns, UTC]")
    frame["created_timestamp"] = pd.Timestamp(datetime.now(UTC)).as_unit("ns")
    frame[ENTITY_KEY[table]] = frame[ENTITY_KEY[table]].astype("int64")
    for column, kind in TABLE_COLUMNS[table].items():
        frame[column] = frame[column].astype(kind)
    return frame


def write_feature_partitions(features_dir: Path, table: str, frame: pd.DataFrame, days: list[str]) -> dict[str, int]:
    """Replace each day's partition (empty days too, so reruns never leave stale rows)."""
    directory = table_dir(features_dir, table)
    rows: dict[str, int] = {}
    for day in days:
        part = frame[frame["date"] == day]
        write_partition(directory, day, part)
        rows[day] = len(part)
    return rows


def count_feature_rows(features_dir: Path, days: list[str]) -> dict[str, int]:
    """Rows per feature table in the given daily partitions (what a materialization loads)."""
    counts = {}
    for table in TABLE_COLUMNS:
        paths = [partition_dir(table_dir(features_dir, table), day) / "part.parquet" for day in days]
        counts[table] = sum(pq.ParquetFile(p).metadata.num_rows for p in paths if p.exists())
    return counts
