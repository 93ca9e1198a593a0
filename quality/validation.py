"""Validate one landing partition against its contract and split it, with exact accounting.

Pure functions (no Dagster): the ``clean_events`` asset calls ``validate_partition`` and
stores what it returns. Row-level failures quarantine just those rows; structural failures
(missing, unexpected or mistyped columns, an empty partition) reject the whole partition,
because no row of it can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from core.schema import empty_raw_logs
from quality.contracts import CleanEvents, RawLogs, for_partition

QUARANTINE_COLUMNS = ["date", "row_number", "event_id", "reasons", "payload"]


@dataclass(frozen=True)
class IngestPolicy:
    """When a partition with some bad rows is still accepted."""

    max_quarantine_share: float = 0.01


@dataclass(frozen=True)
class PartitionVerdict:
    """What happened to one landing partition. ``rows_landed`` always equals
    ``rows_clean + rows_quarantined + duplicates_dropped``."""

    date: str
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    rows_landed: int
    duplicates_dropped: int
    structural_failures: list[str] = field(default_factory=list)
    row_failures: dict[str, int] = field(default_factory=dict)  # "column: check" -> failing rows
    accepted: bool = True
    reason: str = ""

    @property
    def rows_clean(self) -> int:
        return len(self.clean)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def accounting_row(self) -> dict[str, object]:
        return {
            "date": self.date,
            "rows_landed": self.rows_landed,
            "rows_clean": self.rows_clean,
            "rows_quarantined": self.rows_quarantined,
            "duplicates_dropped": self.duplicates_dropped,
            "accepted": self.accepted,
            "reason": self.reason,
        }


def _structural_messages(failures: pd.DataFrame) -> list[str]:
    """Readable messages for failures that concern a whole column rather than rows."""
    messages: list[str] = []
    mistyped: set[str] = set()
    for row in failures.itertuples(index=False):
        check = str(row.check)
        if check == "column_in_dataframe":
            messages.append(f"missing column '{row.failure_case}'")
        elif check == "column_in_schema":
            messages.append(f"unexpected column '{row.failure_case}'")
        elif check.startswith("dtype("):
            mistyped.add(str(row.column))
            expected = check.removeprefix("dtype(").removesuffix(")").strip("'")
            messages.append(f"column '{row.column}' has dtype {row.failure_case}, expected {expected}")
    for row in failures.itertuples(index=False):
        check = str(row.check)
        if check in ("column_in_dataframe", "column_in_schema") or check.startswith("dtype("):
            continue
        if str(row.column) not in mistyped:  # a check that crashed on a well-typed column
            messages.append(f"column '{row.column}' failed {check}: {row.failure_case}")
    return sorted(set(messages))


def _row_reasons(failures: pd.DataFrame) -> pd.Series:
    """Index label -> '; '-joined reasons for every row-level failure."""
    reasons = (
        failures["column"].astype(str)
        + ": "
        + failures["check"].astype(str)
        + " (got "
        + failures["failure_case"].astype(str)
        + ")"
    )
    return reasons.groupby(failures["index"]).agg(lambda values: "; ".join(sorted(set(values))))


def _quarantine_frame(day: str, rows: pd.DataFrame, reasons: pd.Series | str) -> pd.DataFrame:
    payload = rows.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
    event_ids = rows["event_id"].astype(str) if "event_id" in rows.columns else pd.Series([""] * len(rows))
    return pd.DataFrame(
        {
            "date": day,
            "row_number": rows.index.to_numpy(dtype="int64"),
            "event_id": event_ids.to_numpy(),
            "reasons": reasons if isinstance(reasons, str) else reasons.reindex(rows.index).to_numpy(),
            "payload": payload.splitlines() if len(rows) else [],
        },
        columns=QUARANTINE_COLUMNS,
    )


def validate_partition(raw: pd.DataFrame, day: str, policy: IngestPolicy | None = None) -> PartitionVerdict:
    """Split a landing partition into clean rows and quarantined rows with reasons."""
    policy = policy or IngestPolicy()
    raw = raw.reset_index(drop=True)
    rows_landed = len(raw)
    duplicated = exact_duplicates(raw)
    deduped = raw.loc[~duplicated]
    schema = for_partition(RawLogs, day)

    failures = pd.DataFrame(columns=["column", "check", "failure_case", "index"])
    try:
        schema.validate(deduped, lazy=True)
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases

    structural = _structural_messages(failures[failures["index"].isna()])
    if rows_landed == 0:
        structural.append("partition is empty")
    if structural:
        reason = f"partition {day} rejected: " + "; ".join(structural)
        return PartitionVerdict(
            date=day,
            clean=empty_clean(),
            quarantine=_quarantine_frame(day, deduped, reason),
            rows_landed=rows_landed,
            duplicates_dropped=int(duplicated.sum()),
            structural_failures=structural,
            accepted=False,
            reason=reason,
        )

    row_failures = failures[failures["index"].notna()]
    bad_index = pd.Index(row_failures["index"].unique())
    quarantine = _quarantine_frame(day, deduped.loc[bad_index], _row_reasons(row_failures))
    clean = deduped.drop(index=bad_index).assign(date=day)
    counts = (
        row_failures.assign(rule=row_failures["column"].astype(str) + ": " + row_failures["check"].astype(str))
        .groupby("rule")["index"]
        .nunique()
    )
    share = len(quarantine) / max(len(deduped), 1)
    accepted = share <= policy.max_quarantine_share
    reason = (
        ""
        if accepted
        else (
            f"partition {day} rejected: {share:.2%} of rows quarantined (> {policy.max_quarantine_share:.2%}); "
            + "; ".join(f"{rule} x{n}" for rule, n in counts.items())
        )
    )
    return PartitionVerdict(
        date=day,
        clean=CleanEvents.validate(clean.reset_index(drop=True)),
        quarantine=quarantine,
        rows_landed=rows_landed,
        duplicates_dropped=int(duplicated.sum()),
        row_failures={str(rule): int(n) for rule, n in counts.items()},
        accepted=accepted,
        reason=reason,
    )


def exact_duplicates(raw: pd.DataFrame) -> pd.Series:
    """Rows identical in every column to an earlier row: replays, safe to drop and count."""
    if raw.empty:
        return pd.Series(False, index=raw.index)
    try:
        return raw.duplicated(keep="first")
    except TypeError:  # unhashable cells (lists, dicts): the contract will reject the dtype anyway
        return pd.Series(False, index=raw.index)


def empty_clean() -> pd.DataFrame:
    """Zero clean rows with the clean-events dtypes, so an empty partition stays well typed."""
    return empty_raw_logs().assign(ts=lambda f: f["ts"].astype("datetime64[ns, UTC]"), date=pd.Series(dtype=str))


def empty_quarantine() -> pd.DataFrame:
    """Zero quarantined rows with the quarantine table's columns."""
    return pd.DataFrame(
        {name: pd.Series(dtype="int64" if name == "row_number" else str) for name in QUARANTINE_COLUMNS}
    )
