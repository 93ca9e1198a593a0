"""Repair a blocked partition: optionally override it, then re-materialize it and everything
downstream of it (its features, the later feature windows that read it, the training cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from core.settings import RelaySettings
from orchestration.runner import CONSOLE_INFO, cycle_decision
from quality.partition_gate import blocked_partitions, ingested_days
from quality.records import record_override

FEATURE_WINDOW_DAYS = 30


@dataclass
class RepairResult:
    day: str
    runs: list[str] = field(default_factory=list)
    blocked: dict[str, list[str]] = field(default_factory=dict)
    decision: dict | None = None

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
    data = defs.resolve_job_def("daily_data").execute_in_process(
        instance=instance, partition_key=day, run_config=CONSOLE_INFO, raise_on_error=False
    )
    result.runs.append(data.run_id)
    result.blocked = blocked_partitions(settings, [day])
    if not data.success or result.blocked:
        return result

    later = [d for d in ingested_days(settings) if day < d <= _plus(day, FEATURE_WINDOW_DAYS - 1)]
    if later:
        features = defs.resolve_job_def("daily_data").execute_in_process(
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: later[0], ASSET_PARTITION_RANGE_END_TAG: later[-1]},
            asset_selection=[dg.AssetKey(k) for k in ("user_features", "item_features", "online_features")],
            run_config=CONSOLE_INFO,
            raise_on_error=False,
        )
        result.runs.append(features.run_id)
        if not features.success:
            result.blocked = blocked_partitions(settings, later) or {later[0]: ["feature refresh failed; see the run"]}
            return result
    if retrain:
        training = defs.resolve_job_def("training_cycle").execute_in_process(
            instance=instance, run_config={**CONSOLE_INFO, **(training_config or {})}, raise_on_error=False
        )
        result.runs.append(training.run_id)
        result.decision = cycle_decision(training)[1]
    return result


def _plus(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
