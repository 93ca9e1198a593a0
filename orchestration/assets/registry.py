"""Registry stage: move ``champion`` only for a challenger the gate passed (or an explicit override)."""

import dagster as dg

from orchestration.failures import failure_on
from orchestration.resources import MLflowResource
from promotion.outcome import GateOutcome, PromotionDecision
from promotion.promoter import PromotionRefused, promote_challenger


class PromotionSettings(dg.Config):
    """Promote a challenger the gate refused, on purpose and on the record."""

    override_reason: str = ""
    override_by: str = ""


@dg.asset(group_name="registry")
def champion(
    context: dg.AssetExecutionContext,
    config: PromotionSettings,
    holdout_evaluation: GateOutcome,
    mlflow_tracking: MLflowResource,
) -> dg.Output[PromotionDecision]:
    """Promote the challenger through the one serialized promoter, which records lineage and
    moves the replaced champion to ``previous``."""
    mlflow_tracking.configure()
    with failure_on(PromotionRefused):
        decision = promote_challenger(
            mlflow_tracking.settings(), holdout_evaluation, config.override_reason, config.override_by
        )
    if decision.override:
        context.log.warning(
            f"promoted v{decision.candidate_version} over the gate's refusal: "
            f"{config.override_reason} ({config.override_by})"
        )
    context.log.info(f"champion v{decision.serving_version} (previous: v{decision.previous_version})")
    return dg.Output(decision, metadata=_decision_metadata(decision))


def _decision_metadata(decision: PromotionDecision) -> dict[str, object]:
    return {
        "serving_version": decision.serving_version,
        "previous_version": decision.previous_version or "none",
        "reason": decision.reason,
        "override": decision.override,
    }
