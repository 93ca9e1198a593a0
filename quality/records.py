"""Persisted quality state in the lake: partition profiles, check results and overrides.

Stored as small parquet files (one per partition, or per check and partition) so every write is
atomic and idempotent, and read through the DuckDB views that ``core.lake.connect`` creates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from core import lake
from core.settings import RelaySettings
from quality.rule_result import RuleResult

PROFILES = "profiles"
CHECKS = "checks"
OVERRIDES = "overrides"


def write_profile(settings: RelaySettings, profile: dict[str, Any]) -> None:
    frame = pd.DataFrame([{"profile": json.dumps(profile)}])
    lake.write_partition(lake.table_dir(settings, PROFILES), profile["date"], frame)


def read_profiles(settings: RelaySettings) -> dict[str, dict[str, Any]]:
    directory = lake.table_dir(settings, PROFILES)
    profiles = {}
    for path in sorted(directory.glob("date=*/part.parquet")):
        profiles[path.parent.name.removeprefix("date=")] = json.loads(pd.read_parquet(path)["profile"].iloc[0])
    return profiles


def check_dir(settings: RelaySettings, asset: str, check: str):
    return settings.lake_dir / CHECKS / asset / check


def write_check_result(
    settings: RelaySettings, asset: str, check: str, day: str, result: RuleResult, blocking: bool = True
) -> None:
    """Replace the latest result of one check on one partition."""
    row = {
        "asset": asset,
        "check_name": check,
        "passed": bool(result.passed),
        "blocking": bool(blocking),
        "column_name": result.column or "",
        "description": result.description,
        "metrics": json.dumps(result.metrics, default=str),
        "evaluated_at": datetime.now(UTC).isoformat(),
    }
    lake.write_partition(check_dir(settings, asset, check), day, pd.DataFrame([row]))


def record_override(settings: RelaySettings, day: str, reason: str, by: str) -> dict[str, str]:
    """Accept a partition's failing rows/checks explicitly; who and why are kept forever."""
    if not reason.strip() or not by.strip():
        raise ValueError("an override needs a non-empty reason and the name of who gives it")
    row = {"reason": reason.strip(), "given_by": by.strip(), "given_at": datetime.now(UTC).isoformat()}
    lake.write_partition(lake.table_dir(settings, OVERRIDES), day, pd.DataFrame([row]))
    return {"date": day, **row}


def override_for(settings: RelaySettings, day: str) -> dict[str, str] | None:
    path = lake.partition_dir(lake.table_dir(settings, OVERRIDES), day) / "part.parquet"
    if not path.exists():
        return None
    return {"date": day, **pd.read_parquet(path).iloc[0].to_dict()}


@dataclass(frozen=True)
class CheckRecord:
    """The latest result of one check on one partition."""

    asset: str
    check_name: str
    passed: bool
    blocking: bool
    column_name: str
    description: str


@dataclass(frozen=True)
class PartitionReport:
    """A partition's row accounting, its gate status and every check's latest result, read in one
    place so ``relay quality`` prints it without knowing the lake's views."""

    day: str
    rows_landed: int
    rows_clean: int
    rows_quarantined: int
    duplicates_dropped: int
    usable: bool
    reason: str  # the contract's verdict ("" when it had nothing to say)
    override: dict[str, str] | None  # who accepted the partition and why, when it was overridden
    checks: tuple[CheckRecord, ...]

    @property
    def balanced(self) -> bool:
        """Every landed row is accounted for: clean, quarantined or a dropped duplicate."""
        return self.rows_landed == self.rows_clean + self.rows_quarantined + self.duplicates_dropped


def partition_report(settings: RelaySettings, day: str) -> PartitionReport | None:
    """The report of one ingested partition; None when ``day`` has not been ingested."""
    with lake.connect(settings) as con:
        status = con.execute(
            "SELECT rows_landed, rows_clean, rows_quarantined, duplicates_dropped, usable, reason, overridden "
            "FROM partition_status WHERE date = $day",
            {"day": day},
        ).fetchone()
        checks = con.execute(
            "SELECT asset, check_name, passed, blocking, column_name, description FROM checks "
            "WHERE date = $day ORDER BY asset, check_name",
            {"day": day},
        ).fetchall()
    if status is None:
        return None
    landed, clean, quarantined, duplicates, usable, reason, overridden = status
    return PartitionReport(
        day=day,
        rows_landed=int(landed),
        rows_clean=int(clean),
        rows_quarantined=int(quarantined),
        duplicates_dropped=int(duplicates),
        usable=bool(usable),
        reason=reason or "",
        override=override_for(settings, day) if overridden else None,
        checks=tuple(
            CheckRecord(asset, name, bool(passed), bool(blocking), column or "", description or "")
            for asset, name, passed, blocking, column, description in checks
        ),
    )
