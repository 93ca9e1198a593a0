"""Persisted quality state in the lake: partition profiles, check results and overrides.

Stored as small parquet files (one per partition, or per check and partition) so every write is
atomic and idempotent, and read through the DuckDB views that ``core.lake.connect`` creates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from core import lake
from core.settings import RelaySettings
from quality.rules import RuleResult

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
