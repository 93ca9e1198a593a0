"""Evaluation stage: challenger and champion on the identical holdout, judged by the gate."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from experiments.offpolicy import predicted_online_lift
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from promotion.judge import judge_challenger
from promotion.outcome import GateOutcome
from training.ranker.run import RankerRun
from training.split import TemporalSplit


@dg.asset(
    group_name="evaluation",
    check_specs=[
        dg.AssetCheckSpec(
            "check_promotion_gate",
            asset="holdout_evaluation",
            blocking=True,
            description="The challenger passes every guardrail of promotion/policy.yaml "
            "against the champion on the same holdout; nothing is promoted otherwise.",
        )
    ],
)
def holdout_evaluation(
    context: dg.AssetExecutionContext,
    ranker_model: RankerRun,
    training_window: TemporalSplit,
    lake: LakeResource,
    feast: FeastResource,
    mlflow_tracking: MLflowResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Accuracy, beyond-accuracy, calibration, score shift and business-rule replay of the
    challenger against the champion, with bootstrap CIs, a verdict and an HTML report."""
    settings = lake.settings()
    lifts, absent = predicted_online_lift(settings, ranker_model.version)
    if absent:
        context.log.info(f"off-policy goal rule: {absent}")
    outcome = judge_challenger(settings, feast.store(), ranker_model, training_window, offpolicy=lifts)
    context.log.info("holdout metrics\n" + outcome.metrics.to_string(index=False))
    (context.log.info if outcome.passed else context.log.warning)(outcome.reason)
    yield dg.Output(outcome, metadata=_gate_metadata(outcome))
    yield dg.AssetCheckResult(
        check_name="check_promotion_gate",
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.reason,
        metadata={
            rule["rule"]: dg.MetadataValue.text(("ok: " if rule["passed"] else "FAILED: ") + rule["message"])
            for rule in outcome.rules
        },
    )


LIFT_COLUMNS = [
    "configuration",
    "reward",
    "estimator",
    "relative_lift",
    "relative_ci_low",
    "relative_ci_high",
    "verdict",
    "support_treatment",
    "ess_treatment",
    "n_sessions",
]


def _gate_metadata(outcome: GateOutcome) -> dict[str, object]:
    return {
        "verdict": outcome.gate,
        "configuration": outcome.configuration or "none passed",
        "configurations": dg.MetadataValue.md(
            pd.DataFrame.from_records(list(outcome.configurations)).to_markdown(index=False, floatfmt=".4f")
        ),
        "reason": outcome.reason,
        "metrics": dg.MetadataValue.md(outcome.metrics.to_markdown(index=False, floatfmt=".4f")),
        "comparison": dg.MetadataValue.md(outcome.comparison_frame.to_markdown(index=False, floatfmt=".4f")),
        "predicted_online_lift": dg.MetadataValue.md(
            outcome.offpolicy_frame.reindex(columns=LIFT_COLUMNS).to_markdown(index=False, floatfmt=".4f")
            if outcome.offpolicy
            else "no off-policy estimate (no exploration log of the champion: `relay explore`)"
        ),
        "report": dg.MetadataValue.path(outcome.report),
        "report_url": dg.MetadataValue.url(Path(outcome.report).as_uri()),
    }
