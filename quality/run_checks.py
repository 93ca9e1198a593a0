"""Evaluate one statistical rule on partitions and persist the results (used by the asset checks)."""

from __future__ import annotations

from datetime import date, timedelta

from core import lake
from core.settings import RelaySettings
from quality.all_rules import evaluate
from quality.partition_gate import INGEST_ASSET
from quality.records import read_profiles, write_check_result
from quality.rule_result import RuleResult
from quality.thresholds import on_day, thresholds_for


def _usable_and_rejected(settings: RelaySettings) -> tuple[set[str], set[str]]:
    with lake.connect(settings) as con:
        rows = con.execute("SELECT date, usable, accepted OR overridden FROM partition_status").fetchall()
    return {d for d, usable, _ in rows if usable}, {d for d, _, ok in rows if not ok}


def run_rule(
    settings: RelaySettings, rule: str, days: list[str], blocking: bool = True
) -> list[tuple[str, RuleResult]]:
    """Evaluate ``rule`` on each day against its trailing window of good days; persist each result."""
    thresholds = thresholds_for(settings)
    window = thresholds["reference"]["window_days"]
    profiles = read_profiles(settings)
    usable, rejected = _usable_and_rejected(settings)
    results = []
    for day in days:
        if day in rejected:
            result = RuleResult(
                True,
                f"partition {day}: not evaluated, already rejected by check_contract",
                metrics={"skipped": "rejected by contract"},
            )
        elif day not in profiles:
            result = RuleResult(False, f"partition {day}: no profile; ingest the partition first", metrics={})
        else:
            first = (date.fromisoformat(day) - timedelta(days=window)).isoformat()
            reference = [profiles[d] for d in sorted(profiles) if first <= d < day and d in usable]
            result = evaluate(rule, profiles[day], reference, on_day(thresholds, day))
        write_check_result(settings, INGEST_ASSET, f"check_{rule}", day, result, blocking)
        results.append((day, result))
    return results
