"""Contract checks over what is stored: the ingest accounting, and the feature tables.

They re-read the lake rather than trusting the writer, so a partition that was tampered with
after it was written (a feature table whose keys now fan out, say) is caught the next time
its check runs.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pyarrow.parquet as pq

from core import lake
from core.settings import RelaySettings
from quality.contracts import ItemFeatures, UserCategoryFeatures, UserFeatures, partition_window
from quality.records import write_check_result
from quality.rule_result import RuleResult

FEATURE_CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "user_features": UserFeatures,
    "item_features": ItemFeatures,
    "user_category_features": UserCategoryFeatures,
}


def _stored_rows(table_dir, day: str) -> int:
    path = lake.partition_dir(table_dir, day) / "part.parquet"
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def check_accounting(settings: RelaySettings, days: list[str]) -> list[tuple[str, RuleResult]]:
    """Contract verdict per partition, with the accounting identity recounted from stored files."""
    with lake.connect(settings) as con:
        accounting = con.execute("SELECT * FROM accounting WHERE list_contains($days, date)", {"days": days}).df()
    rows = {r["date"]: r for r in accounting.to_dict(orient="records")}
    results = []
    for day in days:
        if day not in rows:
            result = RuleResult(False, f"partition {day}: not ingested", None, {})
        else:
            row = rows[day]
            clean = _stored_rows(lake.table_dir(settings, lake.EVENTS), day) if row["accepted"] else 0
            quarantined = _stored_rows(lake.table_dir(settings, lake.QUARANTINE), day)
            metrics = {k: int(row[k]) for k in ("rows_landed", "rows_clean", "rows_quarantined", "duplicates_dropped")}
            metrics |= {"stored_clean": clean, "stored_quarantined": quarantined}
            balanced = row["rows_landed"] == row["rows_clean"] + row["rows_quarantined"] + row["duplicates_dropped"]
            stored = (clean, quarantined) == (row["rows_clean"], row["rows_quarantined"])
            if not row["accepted"]:
                result = RuleResult(False, row["reason"], _column_in(row["reason"]), metrics)
            elif not (balanced and stored):
                result = RuleResult(
                    False,
                    f"partition {day}: accounting does not balance or differs from the stored tables ({metrics})",
                    None,
                    metrics,
                )
            else:
                result = RuleResult(
                    True,
                    f"partition {day}: {row['rows_clean']} clean, {row['rows_quarantined']} "
                    f"quarantined, {row['duplicates_dropped']} duplicates of {row['rows_landed']}"
                    + (f"; {row['reason']}" if row["reason"] else ""),
                    None,
                    metrics,
                )
        write_check_result(settings, "clean_events", "check_contract", day, result)
        results.append((day, result))
    return results


def _column_in(reason: str) -> str | None:
    """The first quoted column name of a contract rejection message, if any."""
    if "'" not in reason:
        return None
    return reason.split("'")[1]


def _feature_failures(table: str, frame: pd.DataFrame, day: str) -> tuple[list[str], list[str]]:
    """(columns, messages) of contract violations of one stored feature partition."""
    contract = FEATURE_CONTRACTS[table]
    messages, columns = [], []
    try:
        contract.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
            name = str(column)
            if name == contract.__name__:  # a dataframe-level rule (unique keys)
                name = ", ".join(contract.key_columns())
            columns.append(name)
            messages.append(f"{name}: {check} ({len(group)} failing values)")
    expected = partition_window(day)[1]
    if len(frame) and (frame["event_timestamp"] != expected).any():
        columns.append("event_timestamp")
        messages.append(f"event_timestamp: rows not stamped at {expected} (the end of the partition's day)")
    return columns, messages


def check_feature_partitions(settings: RelaySettings, table: str, days: list[str]) -> list[tuple[str, RuleResult]]:
    """Validate each stored partition of a feature table against its contract."""
    results = []
    directory = settings.features_dir / table
    for day in days:
        path = lake.partition_dir(directory, day) / "part.parquet"
        if not path.exists():
            result = RuleResult(False, f"partition {day}: {table} has no stored partition", None, {})
        else:
            frame = pd.read_parquet(path).assign(date=day)
            columns, messages = _feature_failures(table, frame, day)
            metrics = {"rows": len(frame)}
            if messages:
                result = RuleResult(False, f"partition {day}: {table} " + "; ".join(messages), columns[0], metrics)
            else:
                result = RuleResult(
                    True, f"partition {day}: {len(frame)} {table} rows satisfy the contract", None, metrics
                )
        write_check_result(settings, table, f"check_{table}_contract", day, result)
        results.append((day, result))
    return results
