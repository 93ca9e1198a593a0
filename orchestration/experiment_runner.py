"""Runners the CLI calls for experiments: a named challenger through Dagster, a catch-up, and the A/B job."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import dagster as dg

from core.settings import RelaySettings
from experiments.abtest import ABTestConfig, ABTestResult
from experiments.variants import variant_run_config
from orchestration.experiment_jobs import (
    ABTEST_JOB,
    CATCHUP_JOB,
    CHALLENGER_JOB,
    RANKER_VARIANT_JOB,
    catchup_run_config,
)
from orchestration.runner import CONSOLE_INFO, cycle_decision, dagster_instance, gate_outcome, gate_step
from promotion.outcome import GateOutcome, PromotionDecision
from training.catchup.run import CatchupLaunch, CatchupRun
from training.ranker.run import RankerRun


def train_challenger(settings: RelaySettings, variant: str) -> GateOutcome:
    """Train the named variant on the last training cycle's inputs, register and judge it.
    A refusal by the gate is an outcome here, not an error: the version exists either way."""
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def(CHALLENGER_JOB)
    result = job.execute_in_process(
        instance=dagster_instance(settings),
        run_config={**CONSOLE_INFO, **variant_run_config(variant)},
        raise_on_error=False,
        tags={"relay/variant": variant},
    )
    evaluation, _ = gate_outcome(result)
    return evaluation


def train_variant(settings: RelaySettings, variant: str) -> int:
    """Train and register the named variant without judging it; returns its version."""
    from orchestration.definitions import build_definitions

    result = (
        build_definitions(settings)
        .resolve_job_def(RANKER_VARIANT_JOB)
        .execute_in_process(
            instance=dagster_instance(settings),
            run_config={**CONSOLE_INFO, **variant_run_config(variant)},
            tags={"relay/variant": variant},
        )
    )
    return result.output_for_node("ranker_model").version


def run_abtest_job(settings: RelaySettings, config: ABTestConfig) -> ABTestResult:
    """The ``abtest`` job in-process on the project's instance, so the UI lists the run."""
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    values = {k: v for k, v in asdict(config).items() if v is not None}
    result = defs.resolve_job_def(ABTEST_JOB).execute_in_process(
        instance=dagster_instance(settings),
        run_config={**CONSOLE_INFO, "ops": {"simulated_abtest": {"config": values}}},
    )
    return result.output_for_node("simulated_abtest")


@dataclass(frozen=True)
class CatchupOutcome:
    """What a ``catchup`` run made: the challenger SASRec and its lineage, the embedding version
    backfilled from it, the ranker trained on that, the gate's outcome and the promotion decision."""

    run_id: str
    sasrec: CatchupRun
    embedding_version: int
    ranker: RankerRun
    evaluation: GateOutcome
    decision: PromotionDecision


def merge_run_config(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` merged in, nested dicts key by key (``extra`` wins on a leaf)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_run_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def step_failures(result: dg.ExecuteInProcessResult, but: str) -> list[str]:
    """``step: reason`` of every failed step except ``but``: a refusal's own words (``dg.Failure``)
    where there is one, else the message of the error at the root of the failure."""
    reasons = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE" or event.step_key == but:
            continue
        data = event.step_failure_data
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        described = data.user_failure_data.description if data.user_failure_data else None
        reasons.append(f"{event.step_key}: {described or (error.message.strip() if error else event.message)}")
    return reasons


def run_catchup(settings: RelaySettings, launch: CatchupLaunch, run_config: dict | None = None) -> CatchupOutcome:
    """The ``catchup`` job in-process on the project's instance (so ``relay ui`` lists the run).

    The names are checked before anything starts (ValueError listing the choices). ``run_config``
    adds other config (a split, a ranker, a seed); the catch-up's own fields win over it.
    A refusal by the gate is an outcome; a failure of any other step raises with its reason.
    """
    from orchestration.definitions import build_definitions

    config = launch.config()
    result = (
        build_definitions(settings)
        .resolve_job_def(CATCHUP_JOB)
        .execute_in_process(
            instance=dagster_instance(settings),
            run_config=merge_run_config(merge_run_config(CONSOLE_INFO, run_config or {}), catchup_run_config(launch)),
            raise_on_error=False,
            tags={"relay/catchup": f"{config.arch}/{config.strategy}"},
        )
    )
    failures = step_failures(result, but=gate_step())
    if failures:
        raise RuntimeError(f"{CATCHUP_JOB} run {result.run_id} failed:\n" + "\n".join(failures))
    evaluation, decision = cycle_decision(result)
    return CatchupOutcome(
        run_id=result.run_id,
        sasrec=result.output_for_node("sasrec_model"),
        embedding_version=result.output_for_node("sasrec_embeddings"),
        ranker=result.output_for_node("ranker_model"),
        evaluation=evaluation,
        decision=decision,
    )
