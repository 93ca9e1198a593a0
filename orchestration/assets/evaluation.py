"""Evaluation stage: challenger and champion on the identical holdout, judged by the gate."""

from collections.abc import Iterator

import dagster as dg
import mlflow
import numpy as np

from core.lake import read_catalog
from evaluation.comparison import compare
from evaluation.holdout import K, holdout_data, model_view
from evaluation.lists import metrics_table
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from promotion.policy import DEFAULT_POLICY, PromotionPolicy, decide
from promotion.report import write_report
from training import registry
from training.split import TemporalSplit

POLICY = DEFAULT_POLICY


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
    ranker_model: dict,
    training_window: TemporalSplit,
    lake: LakeResource,
    feast: FeastResource,
    mlflow_tracking: MLflowResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Accuracy, beyond-accuracy, calibration, score shift and business-rule replay of the
    challenger against the champion, with bootstrap CIs, a verdict and an HTML report."""
    settings = lake.settings()
    policy = PromotionPolicy.load(POLICY)
    mlflow_tracking.configure()
    store = feast.store()
    with lake.connect() as con:
        data = holdout_data(con, training_window, read_catalog(settings))

    version = int(ranker_model["version"])
    challenger_bundle, _ = registry.load_verified_ranker(settings.ranker_model_name, version)
    challenger, challenger_metrics = model_view(store, challenger_bundle, f"challenger v{version}", version, data)
    results = {f"challenger v{version}": challenger_metrics}
    champion_view = None
    current = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if current is not None and int(current.version) != version:
        champion_bundle, champion_version = registry.load_verified_ranker(
            settings.ranker_model_name, int(current.version)
        )
        champion_view, champion_metrics = model_view(
            store, champion_bundle, f"champion v{champion_version}", champion_version, data
        )
        results[f"champion v{champion_version}"] = champion_metrics

    comparison = compare(challenger, champion_view, data.holdout, list(policy.business_thresholds))
    verdict = decide(comparison, policy)
    table = metrics_table(results, k=K)
    context.log.info("holdout metrics\n" + table.to_string(index=False))
    (context.log.info if verdict.passed else context.log.warning)(verdict.reason)

    header = {
        "challenger": version,
        "champion": champion_view.version if champion_view else "none",
        "holdout": f"{training_window.holdout_start}..{training_window.last_day}",
        "users": len(data.truth.users),
    }
    views = [challenger] + ([champion_view] if champion_view else [])
    report = write_report(
        settings.root / "reports" / f"ranker-v{version}",
        verdict,
        comparison,
        views,
        data.holdout.impression_labels,
        header,
    )
    gate = "passed" if verdict.passed else "refused"
    flat = {
        f"holdout_{model}_{name}": value
        for model, metrics in challenger_metrics.items()
        for name, value in metrics.as_dict(K).items()
    }
    with mlflow.start_run(run_id=ranker_model["run_id"]):
        mlflow.log_metrics(flat)
        mlflow.log_metrics(
            {f"gate_{row.metric}": row.challenger for row in comparison.rows if np.isfinite(row.challenger)}
        )
        mlflow.log_artifacts(str(report.parent), artifact_path="promotion_report")
        mlflow.set_tags({"gate": gate, "gate_reason": verdict.reason[:5000]})
    registry.tag_version(settings.ranker_model_name, version, {"gate": gate, "gate_reason": verdict.reason[:5000]})

    summary = {
        "candidate": {
            "version": version,
            "run_id": ranker_model["run_id"],
            "ndcg_at_10": comparison.get("ndcg_at_10").challenger,
        },
        "champion": {"version": champion_view.version} if champion_view else None,
        "verdict": verdict.as_dict(),
        "table": table.to_dict(orient="records"),
        "report": str(report),
    }
    yield dg.Output(
        summary,
        metadata={
            "verdict": gate,
            "reason": verdict.reason,
            "metrics": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f")),
            "comparison": dg.MetadataValue.md(comparison.frame().to_markdown(index=False, floatfmt=".4f")),
            "report": dg.MetadataValue.path(str(report)),
            "report_url": dg.MetadataValue.url(report.as_uri()),
        },
    )
    yield dg.AssetCheckResult(
        check_name="check_promotion_gate",
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=verdict.reason,
        metadata={
            rule.rule: dg.MetadataValue.text(("ok: " if rule.passed else "FAILED: ") + rule.message)
            for rule in verdict.rules
        },
    )
