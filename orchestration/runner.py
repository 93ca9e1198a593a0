"""Run Relay's Dagster jobs in-process against a persistent instance (used by the CLI demo).

The runs land in the instance under ``<home>/dagster``, so ``relay ui`` shows them afterwards
exactly as if the daemon had launched them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from core.settings import REPO_ROOT, RelaySettings
from orchestration.jobs import DAILY_DATA_JOB, TRAINING_CYCLE_JOB
from orchestration.partitions import partition_range_tags
from promotion.outcome import GateOutcome, PromotionDecision

# Step-level DEBUG events stay in the instance (and the UI); the terminal gets INFO and up.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class CycleResult:
    data_run_id: str
    training_run_id: str
    evaluation: GateOutcome
    decision: PromotionDecision

    @property
    def metrics(self) -> pd.DataFrame:
        return self.evaluation.metrics


def gate_step() -> str:
    """The step whose blocking check is the promotion gate: its failure is a refusal, not an error.

    Imported when needed: the asset modules are heavy, and ``relay ui`` only wants the instance.
    """
    from orchestration.assets.evaluation import holdout_evaluation

    return holdout_evaluation.op.name


def write_dagster_yaml(settings: RelaySettings) -> Path:
    """Create ``<home>/dagster`` with the profile's ``dagster.yaml`` (kept if already there)."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(REPO_ROOT / "infra" / settings.profile / "dagster.yaml", config)
    return config


def prepare_dagster_home(settings: RelaySettings) -> None:
    """``write_dagster_yaml`` and export DAGSTER_HOME (and the Postgres URL) to this process."""
    write_dagster_yaml(settings)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    if settings.profile == "production":
        os.environ["RELAY_DAGSTER_PG_URL"] = settings.database_url("dagster")


def dagster_instance(settings: RelaySettings) -> dg.DagsterInstance:
    """The project's persistent Dagster instance, shown by ``relay ui``."""
    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()


def require_partitions(job: dg.JobDefinition, first_day: str, last_day: str) -> None:
    """Refuse a range outside the job's partitions with the partitions it has, before any run starts."""
    keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
    if first_day > last_day or first_day not in keys or last_day not in keys:
        span = f"{keys[0]}..{keys[-1]}" if keys else "none"
        raise ValueError(f"days {first_day}..{last_day} are not all partitions of {job.name} (partitions: {span})")


def run_cycle(
    settings: RelaySettings,
    first_day: str,
    last_day: str,
    training_config: dict | None = None,
    instance: dg.DagsterInstance | None = None,
) -> CycleResult:
    """Ingest and featurize [first_day, last_day] in one single-run backfill, then train and gate."""
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    instance = instance or dagster_instance(settings)
    data_job = defs.resolve_job_def(DAILY_DATA_JOB)
    require_partitions(data_job, first_day, last_day)
    data = data_job.execute_in_process(
        instance=instance,
        tags=partition_range_tags(first_day, last_day),
        run_config=CONSOLE_INFO,
        raise_on_error=False,
    )
    if not data.success:
        failures = [event.message for event in data.all_events if event.is_failure and event.message]
        raise RuntimeError(f"{DAILY_DATA_JOB} run {data.run_id} failed; nothing was trained.\n" + "\n".join(failures))
    training = defs.resolve_job_def(TRAINING_CYCLE_JOB).execute_in_process(
        instance=instance, run_config={**CONSOLE_INFO, **(training_config or {})}, raise_on_error=False
    )
    evaluation, decision = cycle_decision(training)
    return CycleResult(
        data_run_id=data.run_id, training_run_id=training.run_id, evaluation=evaluation, decision=decision
    )


def cycle_decision(result: dg.ExecuteInProcessResult) -> tuple[GateOutcome, PromotionDecision]:
    """(the gate's outcome, the promotion decision) of a training-cycle run.

    A challenger refused by the promotion gate is a normal outcome (the champion keeps serving)
    and is reported as ``promoted=False`` with the gate's reason; any other failure raises.
    """
    evaluation, refused = gate_outcome(result)
    if refused:  # the blocking gate check failed: nothing was promoted
        return evaluation, PromotionDecision.refused(evaluation)
    return evaluation, result.output_for_node("champion")


def gate_outcome(result: dg.ExecuteInProcessResult) -> tuple[GateOutcome, bool]:
    """(the gate's outcome, whether the gate refused) of a run that judged a challenger; a failure
    of any other step raises."""
    failed = {event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"}
    gate = gate_step()
    if failed - {gate}:
        raise RuntimeError(f"run {result.run_id} failed in {sorted(failed)}")
    return result.output_for_node(gate), gate in failed
