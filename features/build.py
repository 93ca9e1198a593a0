"""Run the feature SQL in DuckDB and write one parquet partition per day.

Listed in ``.feastignore``: it computes data, it does not define Feast objects.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from core.lake import partition_dir, write_partition
from feature_repo.tables import FEATURE_TABLES, TABLE_KEYS, table_columns, table_dir

SQL_DIR = Path(__file__).resolve().parent / "sql"


def feature_sql(table: str) -> str:
    return (SQL_DIR / f"{table}.sql").read_text()


def day_range(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError(f"empty day range: start {start} is after end {end}")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def compute_feature_table(con: duckdb.DuckDBPyConnection, table: str, start: str, end: str) -> pd.DataFrame:
    """Feature rows for as-of days [start, end], typed as the feature table's contract says.

    ``created_timestamp`` is the knowledge time: a row only reads events before its
    ``event_timestamp``, so it was knowable then, whether computed daily or in a backfill.
    """
    frame = con.execute(feature_sql(table), {"start": start, "end": end}).df()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True).astype("datetime64[ns, UTC]")
    frame["created_timestamp"] = frame["event_timestamp"]
    for key in TABLE_KEYS[table]:
        frame[key] = frame[key].astype("int64")
    for column, kind in table_columns(table).items():
        frame[column] = frame[column].astype(kind)
    return frame


def write_feature_partitions(features_dir: Path, table: str, frame: pd.DataFrame, days: list[str]) -> dict[str, int]:
    """Replace each day's partition (empty days too, so reruns never leave stale rows)."""
    directory = table_dir(features_dir, table)
    rows: dict[str, int] = {}
    for day, part in frame.groupby("date", sort=False):
        write_partition(directory, str(day), part)
        rows[str(day)] = len(part)
    for day in days:
        if day not in rows:
            write_partition(directory, day, frame.head(0))
            rows[day] = 0
    return {day: rows[day] for day in days}


def count_feature_rows(features_dir: Path, days: list[str]) -> dict[str, int]:
    """Rows per feature table in the given daily partitions (what a materialization loads)."""
    counts = {}
    for table in FEATURE_TABLES:
        paths = [partition_dir(table_dir(features_dir, table), day) / "part.parquet" for day in days]
        counts[table] = sum(pq.ParquetFile(p).metadata.num_rows for p in paths if p.exists())
    return counts
