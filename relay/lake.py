"""The lake: hive-partitioned parquet tables under ``<home>/lake`` and DuckDB views over them.

Each daily table lives at ``<lake>/<table>/date=YYYY-MM-DD/part.parquet`` and is replaced
atomically per partition, so re-running a day is idempotent and readers never see half a
file. DuckDB reads the tables in place; nothing is copied into a database file.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relay.config import RelaySettings

EVENTS = "events"
QUARANTINE = "quarantine"
ACCOUNTING = "accounting"


def partition_dir(table_dir: Path, day: str) -> Path:
    return table_dir / f"date={day}"


def write_partition(table_dir: Path, day: str, frame: pd.DataFrame) -> Path:
    """Replace one day of a table atomically. The ``date`` column is implied by the path."""
    target_dir = partition_dir(table_dir, day)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "part.parquet"
    tmp = target_dir / ".part.parquet.tmp"
    table = pa.Table.from_pandas(frame.drop(columns=["date"], errors="ignore"), preserve_index=False)
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return target


def table_glob(table_dir: Path) -> str:
    return str(table_dir / "date=*" / "part.parquet")


def has_partitions(table_dir: Path) -> bool:
    return any(table_dir.glob("date=*/part.parquet"))


def table_dir(settings: RelaySettings, table: str) -> Path:
    return settings.lake_dir / table


def connect(settings: RelaySettings) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with one view per lake table that has data.

    ``accepted_events`` is the only view training reads: clean events of partitions whose
    latest ingest verdict accepted them. A rejected partition is invisible downstream in
    every later run, not just in the run whose blocking check failed.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in (EVENTS, QUARANTINE, ACCOUNTING):
        directory = table_dir(settings, table)
        if has_partitions(directory):
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{table_glob(directory)}', "
                "hive_partitioning = true, hive_types = {'date': VARCHAR}, union_by_name = true)"
            )
    if has_partitions(table_dir(settings, EVENTS)) and has_partitions(table_dir(settings, ACCOUNTING)):
        con.execute(
            "CREATE VIEW accepted_events AS SELECT e.* FROM events e JOIN accounting a USING (date) WHERE a.accepted"
        )
    else:
        con.execute(
            "CREATE VIEW accepted_events AS SELECT * FROM (SELECT NULL::VARCHAR AS event_id, NULL::TIMESTAMPTZ AS ts, "
            "NULL::BIGINT AS user_id, NULL::BIGINT AS item_id, NULL::VARCHAR AS event_type, NULL::BIGINT AS position, "
            "NULL::DOUBLE AS propensity, NULL::DOUBLE AS timespent_s, NULL::VARCHAR AS session_id, "
            "NULL::VARCHAR AS date) WHERE false"
        )
    return con


def accepted_days(settings: RelaySettings) -> list[str]:
    """Partitions whose latest ingest verdict is accepted, ascending."""
    if not has_partitions(table_dir(settings, ACCOUNTING)):
        return []
    with connect(settings) as con:
        rows = con.execute("SELECT date FROM accounting WHERE accepted ORDER BY date").fetchall()
    return [row[0] for row in rows]
