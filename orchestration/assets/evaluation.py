"""Evaluation stage: candidate and champion on the identical holdout window."""

from collections.abc import Iterator

import dagster as dg
import mlflow

from orchestration.resources import FeastResource, LakeResource, MLflowResource
from relay import registry
from relay.evaluate import evaluate_bundle
from relay.events import read_events
from relay.lake import read_catalog
from training.evaluation import holdout_truth, metrics_table, popular_items
from training.split import TemporalSplit

K = 10


@dg.asset(
    group_name="evaluation",
    check_specs=[
        dg.AssetCheckSpec(
            "check_scores_finite",
            asset="holdout_evaluation",
            blocking=True,
            description="The candidate's scores on the holdout are finite and not constant.",
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
    """NDCG@10 / Recall@10 of popularity, SASRec and SASRec + ranker for candidate and champion."""
    settings = lake.settings()
    mlflow_tracking.configure()
    with lake.connect() as con:
        holdout = read_events(
            con, start=training_window.holdout_start_ts, end=training_window.end_ts, event_type="click"
        )
        before = read_events(
            con, start=training_window.ranker_start_ts, end=training_window.holdout_start_ts, event_type="click"
        )
    truth = holdout_truth(holdout)
    catalog = read_catalog(settings)
    popular = popular_items(before, K)
    store = feast.store()
    as_of = training_window.holdout_start_ts

    candidate_version = int(ranker_model["version"])
    candidate = registry.load_ranker(settings.ranker_model_name, candidate_version)
    candidate_metrics, diagnostics = evaluate_bundle(store, candidate, truth, as_of, popular, catalog, k=K)
    results = {f"candidate v{candidate_version}": candidate_metrics}

    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    champion_summary = None
    if champion is not None and int(champion.version) != candidate_version:
        champion_bundle = registry.load_ranker(settings.ranker_model_name, int(champion.version))
        champion_metrics, _ = evaluate_bundle(store, champion_bundle, truth, as_of, popular, catalog, k=K)
        results[f"champion v{champion.version}"] = champion_metrics
        champion_summary = {"version": int(champion.version), "ndcg_at_10": champion_metrics["sasrec_ranker"].ndcg}

    table = metrics_table(results, k=K)
    context.log.info("holdout metrics\n" + table.to_string(index=False))
    flat = {
        f"{model}_{name}": value
        for model, metrics in candidate_metrics.items()
        for name, value in metrics.as_dict(K).items()
    }
    with mlflow.start_run(run_id=ranker_model["run_id"]):
        mlflow.log_metrics({f"holdout_{k}": v for k, v in flat.items()})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in diagnostics.items()})
        mlflow.log_table(table, artifact_file="holdout_metrics.json")

    summary = {
        "candidate": {
            "version": candidate_version,
            "ndcg_at_10": candidate_metrics["sasrec_ranker"].ndcg,
            "run_id": ranker_model["run_id"],
        },
        "champion": champion_summary,
        "table": table.to_dict(orient="records"),
        "holdout": {"start": training_window.holdout_start, "end": training_window.last_day, "users": len(truth.users)},
    }
    yield dg.Output(
        summary,
        metadata={
            "metrics": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f")),
            "candidate_ndcg_at_10": candidate_metrics["sasrec_ranker"].ndcg,
            "candidate_recall_at_10": candidate_metrics["sasrec_ranker"].recall,
            "holdout_users": len(truth.users),
            **{k: dg.MetadataValue.float(v) for k, v in diagnostics.items()},
        },
    )
    finite = diagnostics["non_finite_scores"] == 0 and diagnostics["score_std"] > 0
    yield dg.AssetCheckResult(
        check_name="check_scores_finite",
        passed=bool(finite),
        severity=dg.AssetCheckSeverity.ERROR,
        description="scores finite and varied"
        if finite
        else f"{int(diagnostics['non_finite_scores'])} non-finite scores, std {diagnostics['score_std']:.3g}",
        metadata={k: dg.MetadataValue.float(v) for k, v in diagnostics.items()},
    )
