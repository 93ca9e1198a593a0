"""The lake: hive-partitioned parquet tables under ``<home>/lake`` and DuckDB views over them.

Each daily table lives at ``<lake>/<table>/date=YYYY-MM-DD/part.parquet`` and is replaced
atomically per partition, so re-running a day is idempotent and readers never see half a
file. DuckDB reads the tables in place; ``relay.duckdb`` holds a refreshed copy of the
accounting and check tables for ad-hoc queries.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pandas as pd

from core import atomic
from core.days import iso_day
from core.settings import RelaySettings

EVENTS = "events"
QUARANTINE = "quarantine"
ACCOUNTING = "accounting"
PROFILES = "profiles"
OVERRIDES = "overrides"
CATALOG = "catalog"
HIVE = "hive_partitioning = true, hive_types = {'date': VARCHAR}, union_by_name = true"
# Typed empty tables, so every view exists (and queries work) before the first partition lands.
EMPTY = {
    EVENTS: "SELECT NULL::VARCHAR AS event_id, NULL::TIMESTAMPTZ AS ts, NULL::BIGINT AS user_id, "
    "NULL::BIGINT AS item_id, NULL::VARCHAR AS event_type, NULL::BIGINT AS position, NULL::DOUBLE AS propensity, "
    "NULL::DOUBLE AS timespent_s, NULL::VARCHAR AS session_id, NULL::VARCHAR AS date",
    QUARANTINE: "SELECT NULL::VARCHAR AS date, NULL::BIGINT AS row_number, NULL::VARCHAR AS event_id, "
    "NULL::VARCHAR AS reasons, NULL::VARCHAR AS payload",
    ACCOUNTING: "SELECT NULL::VARCHAR AS date, NULL::BIGINT AS rows_landed, NULL::BIGINT AS rows_clean, "
    "NULL::BIGINT AS rows_quarantined, NULL::BIGINT AS duplicates_dropped, NULL::BOOLEAN AS accepted, "
    "NULL::VARCHAR AS reason",
    "checks": "SELECT NULL::VARCHAR AS asset, NULL::VARCHAR AS check_name, NULL::BOOLEAN AS passed, "
    "NULL::BOOLEAN AS blocking, NULL::VARCHAR AS column_name, NULL::VARCHAR AS description, NULL::VARCHAR AS metrics, "
    "NULL::VARCHAR AS evaluated_at, NULL::VARCHAR AS date",
    OVERRIDES: "SELECT NULL::VARCHAR AS reason, NULL::VARCHAR AS given_by, NULL::VARCHAR AS given_at, "
    "NULL::VARCHAR AS date",
    CATALOG: "SELECT NULL::BIGINT AS item_id, NULL::BIGINT AS category, NULL::DOUBLE AS duration_s",
}
GATE_VIEWS = """
CREATE VIEW failed_checks AS
    SELECT date, asset, check_name, column_name, description FROM checks WHERE blocking AND NOT passed;
CREATE VIEW partition_status AS
    SELECT a.*, coalesce(f.failed, []) AS failed_checks, o.date IS NOT NULL AS overridden,
           o.date IS NOT NULL OR (a.accepted AND f.failed IS NULL) AS usable
    FROM accounting a
    LEFT JOIN (SELECT date, list(check_name ORDER BY check_name) AS failed FROM failed_checks
               WHERE asset = 'clean_events' GROUP BY date) f USING (date)
    LEFT JOIN (SELECT DISTINCT date FROM overrides) o USING (date);
CREATE VIEW accepted_events AS
    SELECT e.* FROM events e JOIN partition_status s USING (date) WHERE s.usable;
"""


def partition_dir(table_dir: Path, day: str) -> Path:
    return table_dir / f"date={iso_day(day)}"


def write_partition(table_dir: Path, day: str, frame: pd.DataFrame) -> Path:
    """Replace one day of a table atomically. The ``date`` column is implied by the path."""
    target_dir = partition_dir(table_dir, day)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "part.parquet"
    return atomic.write_parquet(frame.drop(columns=["date"], errors="ignore"), target)


def table_dir(settings: RelaySettings, table: str) -> Path:
    return settings.lake_dir / table


PATTERNS = {"checks": "checks/*/*/date=*/part.parquet", CATALOG: "catalog/items.parquet"}


def _glob(settings: RelaySettings, table: str) -> str | None:
    pattern = PATTERNS.get(table, f"{table}/date=*/part.parquet")
    return pattern if any(settings.lake_dir.glob(pattern)) else None


def catalog_file(settings: RelaySettings) -> Path:
    return settings.lake_dir / PATTERNS[CATALOG]


def connect(settings: RelaySettings) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with one view per lake table, and the gate views.

    ``accepted_events`` is the only view training reads: clean events of partitions that passed
    the contract and every blocking check (or were explicitly overridden). A blocked partition
    is invisible downstream in every later run, not just in the run whose check failed.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table, empty in EMPTY.items():
        pattern = _glob(settings, table)
        options = "" if table == CATALOG else f", {HIVE}"
        source = (
            f"SELECT * FROM read_parquet('{settings.lake_dir / pattern}'{options})"
            if pattern
            else f"{empty} WHERE false"
        )
        con.execute(f"CREATE VIEW {table} AS {source}")
    con.execute(GATE_VIEWS)
    return con


def accepted_days(settings: RelaySettings) -> list[str]:
    """Partitions that are usable (accepted, not blocked, or overridden), ascending."""
    with connect(settings) as con:
        rows = con.execute("SELECT date FROM partition_status WHERE usable ORDER BY date").fetchall()
    return [row[0] for row in rows]


def refresh_catalog(settings: RelaySettings, attempts: int = 5) -> Path:
    """Copy accounting, checks and overrides into ``relay.duckdb`` as tables for ad-hoc SQL.

    The parquet files stay the source of truth; the copy is rebuilt from them each time, and a
    concurrent writer only delays it.
    """
    path = settings.duckdb_path
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        try:
            with connect(settings) as con:
                con.execute(f"ATTACH '{path}' AS catalog")
                for table in (ACCOUNTING, "checks", OVERRIDES, "partition_status"):
                    con.execute(f"CREATE OR REPLACE TABLE catalog.{table} AS SELECT * FROM {table}")
            return path
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    return path


def read_catalog(settings: RelaySettings) -> pd.DataFrame:
    """The ingested item catalogue (item_id, category, duration_s); empty before the first ingest."""
    path = catalog_file(settings)
    if not path.exists():
        return pd.DataFrame(
            {
                "item_id": pd.Series(dtype="int64"),
                "category": pd.Series(dtype="int64"),
                "duration_s": pd.Series(dtype="float64"),
            }
        )
    return pd.read_parquet(path)
