"""Repair a blocked partition: optionally override it, then re-materialize it and everything
downstream of it (its features, the later feature windows that read it, the training cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from core.settings import RelaySettings
from feature_repo.tables import WINDOWS
from orchestration.jobs import DAILY_DATA_GROUPS, DAILY_DATA_JOB, TRAINING_CYCLE_JOB
from orchestration.partitions import partition_range_tags
from orchestration.runner import CONSOLE_INFO, cycle_decision
from promotion.outcome import PromotionDecision
from quality.partition_gate import INGEST_ASSET, blocked_partitions, ingested_days
from quality.records import record_override

# The longest window a feature reads: a day's events reach the feature rows of this many days.
FEATURE_WINDOW_DAYS = max(WINDOWS)


@dataclass
class RepairResult:
    day: str
    runs: list[str] = field(default_factory=list)
    blocked: dict[str, list[str]] = field(default_factory=dict)
    decision: PromotionDecision | None = None

    @property
    def repaired(self) -> bool:
        return not self.blocked


def repair_day(
    settings: RelaySettings,
    day: str,
    instance: dg.DagsterInstance,
    accept: tuple[str, str] | None = None,
    retrain: bool = True,
    training_config: dict | None = None,
) -> RepairResult:
    """Re-run ``day`` through the data job (and the training cycle unless ``retrain`` is False).

    ``accept=(reason, by)`` records an explicit override first. Idempotent: a second run
    rewrites identical clean output.
    """
    from orchestration.definitions import build_definitions

    if accept is not None:
        record_override(settings, day, *accept)
    defs = build_definitions(settings)
    result = RepairResult(day)
    data = defs.resolve_job_def(DAILY_DATA_JOB).execute_in_process(
        instance=instance, partition_key=day, run_config=CONSOLE_INFO, raise_on_error=False
    )
    result.runs.append(data.run_id)
    result.blocked = blocked_partitions(settings, [day])
    if not data.success or result.blocked:
        return result

    later = [d for d in ingested_days(settings) if day < d <= _plus(day, FEATURE_WINDOW_DAYS - 1)]
    if later:
        features = defs.resolve_job_def(DAILY_DATA_JOB).execute_in_process(
            instance=instance,
            tags=partition_range_tags(later[0], later[-1]),
            asset_selection=window_readers(defs),
            run_config=CONSOLE_INFO,
            raise_on_error=False,
        )
        result.runs.append(features.run_id)
        if not features.success:
            result.blocked = blocked_partitions(settings, later) or {later[0]: ["feature refresh failed; see the run"]}
            return result
    if retrain:
        training = defs.resolve_job_def(TRAINING_CYCLE_JOB).execute_in_process(
            instance=instance, run_config={**CONSOLE_INFO, **(training_config or {})}, raise_on_error=False
        )
        result.runs.append(training.run_id)
        result.decision = cycle_decision(training)[1]
    return result


def window_readers(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The daily data job's assets downstream of the ingested events, from the definitions' asset
    specs: the feature tables whose windows read a day's events, and the online load of them."""
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    downstream: set[dg.AssetKey] = set()
    frontier = {dg.AssetKey(INGEST_ASSET)}
    while frontier:
        frontier = {key for key, spec in specs.items() if any(d.asset_key in frontier for d in spec.deps)} - downstream
        downstream |= frontier
    return sorted((k for k in downstream if specs[k].group_name in DAILY_DATA_GROUPS), key=dg.AssetKey.to_user_string)


def _plus(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
