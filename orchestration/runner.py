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
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from core.settings import REPO_ROOT, RelaySettings

# Step-level DEBUG events stay in the instance (and the UI); the terminal gets INFO and up.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class CycleResult:
    data_run_id: str
    training_run_id: str
    evaluation: dict
    decision: dict

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.evaluation["table"])


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
    data = defs.resolve_job_def("daily_data").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: first_day, ASSET_PARTITION_RANGE_END_TAG: last_day},
        run_config=CONSOLE_INFO,
        raise_on_error=False,
    )
    if not data.success:
        failures = [event.message for event in data.all_events if event.is_failure and event.message]
        raise RuntimeError(f"daily_data run {data.run_id} failed; nothing was trained.\n" + "\n".join(failures))
    training = defs.resolve_job_def("training_cycle").execute_in_process(
        instance=instance, run_config={**CONSOLE_INFO, **(training_config or {})}, raise_on_error=False
    )
    evaluation, decision = cycle_decision(training)
    return CycleResult(
        data_run_id=data.run_id, training_run_id=training.run_id, evaluation=evaluation, decision=decision
    )


def cycle_decision(result: dg.ExecuteInProcessResult) -> tuple[dict, dict]:
    """(evaluation summary, promotion decision) of a training-cycle run.

    A challenger refused by the promotion gate is a normal outcome (the champion keeps serving)
    and is reported as ``promote: False`` with the gate's reason; any other failure raises.
    """
    failed = {event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"}
    if failed - {"holdout_evaluation"}:
        raise RuntimeError(f"training cycle run {result.run_id} failed in {sorted(failed)}")
    evaluation = result.output_for_node("holdout_evaluation")
    if "holdout_evaluation" in failed:  # the blocking gate check failed: nothing was promoted
        verdict = evaluation["verdict"]
        return evaluation, {
            "promote": False,
            "reason": verdict["reason"],
            "candidate_version": evaluation["candidate"]["version"],
        }
    return evaluation, result.output_for_node("champion")
