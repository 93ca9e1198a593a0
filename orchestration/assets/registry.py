"""Registry stage: move ``champion`` only for a challenger the gate passed (or an explicit override)."""

import dagster as dg

from orchestration.resources import MLflowResource
from promotion.promoter import promote
from training import registry


class PromotionSettings(dg.Config):
    """Promote a challenger the gate refused, on purpose and on the record."""

    override_reason: str = ""
    override_by: str = ""


@dg.asset(group_name="registry")
def champion(
    context: dg.AssetExecutionContext,
    config: PromotionSettings,
    holdout_evaluation: dict,
    mlflow_tracking: MLflowResource,
) -> dg.Output[dict]:
    """Promote the challenger through the one serialized promoter, which records lineage and
    moves the replaced champion to ``previous``."""
    settings = mlflow_tracking.settings()
    mlflow_tracking.configure()
    verdict = holdout_evaluation["verdict"]
    version = int(holdout_evaluation["candidate"]["version"])
    compared_with = (holdout_evaluation["champion"] or {}).get("version")
    current = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if current is not None and int(current.version) not in (compared_with, version):
        raise dg.Failure(
            f"champion moved to v{current.version} after the evaluation compared against "
            f"{compared_with}; re-run holdout_evaluation"
        )
    extra = {}
    if not verdict["passed"]:
        if not (config.override_reason.strip() and config.override_by.strip()):
            raise dg.Failure(
                f"challenger v{version} {verdict['reason']}. To promote it anyway, run `champion` with "
                "override_reason and override_by."
            )
        extra = {"override_reason": config.override_reason, "override_by": config.override_by}
        context.log.warning(
            f"promoting v{version} over the gate's refusal: {config.override_reason} ({config.override_by})"
        )
    move = promote(settings, version, verdict["reason"][:5000], extra)
    context.log.info(f"champion v{move.champion} (previous: v{move.previous})")
    return dg.Output(
        {
            "promote": True,
            "serving_version": move.champion,
            "previous_version": move.previous,
            "candidate_version": version,
            "reason": verdict["reason"],
            "override": bool(extra),
        },
        metadata={
            "serving_version": move.champion,
            "previous_version": move.previous or "none",
            "reason": verdict["reason"],
            "override": bool(extra),
        },
    )
