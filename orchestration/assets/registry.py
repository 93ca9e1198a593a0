"""Registry stage: move the ``champion`` alias only when the candidate wins on the same holdout."""

import dagster as dg
import mlflow

from orchestration.resources import MLflowResource
from relay import registry
from training.promotion import decide_promotion


@dg.asset(group_name="registry")
def champion(
    context: dg.AssetExecutionContext, holdout_evaluation: dict, mlflow_tracking: MLflowResource
) -> dg.Output[dict]:
    """Promote the candidate ranker or keep the champion, and record why in Dagster and MLflow."""
    settings = mlflow_tracking.settings()
    mlflow_tracking.configure()
    candidate, incumbent = holdout_evaluation["candidate"], holdout_evaluation["champion"]
    current = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    decision = decide_promotion(
        candidate_version=candidate["version"],
        candidate_value=candidate["ndcg_at_10"],
        champion_version=int(current.version) if current is not None else None,
        champion_value=incumbent["ndcg_at_10"] if incumbent is not None else None,
    )
    if current is not None and incumbent is None and decision.champion_version != decision.candidate_version:
        raise RuntimeError(
            f"champion v{current.version} appeared after evaluation started; re-run holdout_evaluation to compare"
        )
    previous = registry.promote(settings.ranker_model_name, decision.candidate_version) if decision.promote else None
    registry.tag_version(
        settings.ranker_model_name,
        decision.candidate_version,
        {"promotion": "promoted" if decision.promote else "refused", "promotion_reason": decision.reason},
    )
    with mlflow.start_run(run_id=candidate["run_id"]):
        mlflow.set_tags(
            {"promotion": "promoted" if decision.promote else "refused", "promotion_reason": decision.reason}
        )
    (context.log.info if decision.promote else context.log.warning)(decision.reason)
    serving = decision.candidate_version if decision.promote else decision.champion_version
    return dg.Output(
        {**decision.as_dict(), "serving_version": serving, "previous_version": previous},
        metadata={
            "promoted": decision.promote,
            "reason": decision.reason,
            "serving_version": serving,
            "candidate_version": decision.candidate_version,
        },
    )
