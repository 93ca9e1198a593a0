"""Runners the CLI calls for experiments: a named challenger through Dagster, and the A/B job."""

from __future__ import annotations

from dataclasses import asdict

from core.settings import RelaySettings
from experiments.abtest import ABTestConfig, ABTestResult
from experiments.variants import variant_run_config
from orchestration.experiment_jobs import ABTEST_JOB, CHALLENGER_JOB, RANKER_VARIANT_JOB
from orchestration.runner import CONSOLE_INFO, dagster_instance, gate_outcome
from promotion.outcome import GateOutcome


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
