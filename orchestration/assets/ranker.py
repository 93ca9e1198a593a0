"""Ranker stage: a point-in-time training set from Feast, and LightGBM lambdarank in MLflow."""

from dataclasses import asdict
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd

from core.events import read_events
from core.lake import read_catalog
from feature_repo.views import ranker_service_name
from orchestration.metadata import floats, preview
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from training import registry
from training.calibration import plot_reliability
from training.ranker.fit import RETRIEVAL_K, build_training_set, fit_calibrated_ranker, make_bundle, retrieval_recall
from training.ranker.lgbm import RankerConfig
from training.split import TemporalSplit


class RankerSettings(dg.Config):
    """Dagster mirror of ``RankerConfig`` (``kind``: lightgbm or neural)."""

    kind: str = "lightgbm"
    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    early_stopping_rounds: int = 40
    validation_days: int = 2
    seed: int = 0
    hidden: int = 64
    epochs: int = 20


@dg.asset(group_name="ranker")
def ranker_training_set(
    training_window: TemporalSplit, sasrec_embeddings: int, lake: LakeResource, feast: FeastResource
) -> dg.Output[str]:
    """Impressions of the ranker window labelled with clicks, joined point in time to Feast features."""
    with lake.connect() as con:
        events = read_events(con, start=training_window.ranker_start_ts, end=training_window.holdout_start_ts)
    window = (training_window.ranker_start_ts, training_window.holdout_start_ts)
    frame, guard = build_training_set(feast.store(), events, sasrec_embeddings, window, read_catalog(lake.settings()))
    path = lake.settings().lake_dir / "ranker" / f"training_set_sasrec_v{sasrec_embeddings}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return dg.Output(
        str(path),
        metadata={
            "rows": len(frame),
            "sessions": frame["session_id"].nunique(),
            "positive_rate": float(frame["label"].mean()),
            "feature_service": ranker_service_name(sasrec_embeddings),
            "sasrec_score_null_share": float(frame["sasrec_score"].isna().mean()),
            "guard": dg.MetadataValue.json(guard.as_dict()),
            "preview": preview(frame),
        },
    )


@dg.asset(group_name="ranker")
def ranker_model(
    context: dg.AssetExecutionContext,
    config: RankerSettings,
    ranker_training_set: str,
    sasrec_embeddings: int,
    sasrec_model: dict,
    training_window: TemporalSplit,
    lake: LakeResource,
    mlflow_tracking: MLflowResource,
) -> dg.Output[dict]:
    """Train the ranker (LightGBM lambdarank or the neural one), calibrate it with isotonic
    regression on the window's last day, bundle it with the SASRec retrieval it depends on, and
    register it with its lineage."""
    settings = lake.settings()
    frame = pd.read_parquet(ranker_training_set)
    ranker_config = RankerConfig(**config.model_dump())
    fitted = fit_calibrated_ranker(frame, ranker_config)
    result = fitted.result
    with lake.connect() as con:
        recent_clicks = read_events(
            con, start=training_window.ranker_start_ts, end=training_window.holdout_start_ts, event_type="click"
        )
    service = ranker_service_name(sasrec_embeddings)
    bundle = make_bundle(
        fitted,
        settings.embeddings_dir,
        sasrec_embeddings,
        recent_clicks,
        training_window,
        service,
        read_catalog(settings),
    )
    recall = retrieval_recall(bundle, settings.embeddings_dir, sasrec_embeddings)
    calibration = fitted.ece()
    work = settings.models_dir / f"run-{context.run.run_id}"
    work.mkdir(parents=True, exist_ok=True)
    diagram = plot_reliability(
        {f"{ranker_config.kind} (calibrated)": (fitted.calibration["probability"], fitted.calibration["label"])},
        work / "reliability_calibration_day.png",
        "reliability on the calibration day",
    )
    lineage = {
        "embedding_version": sasrec_embeddings,
        "sasrec_version": sasrec_model["version"],
        "feature_service": service,
        "ranker_kind": ranker_config.kind,
        **{f"partitions_{k}": v for k, v in training_window.as_dict().items()},
    }
    mlflow_tracking.configure()
    with mlflow.start_run(run_name=f"ranker-{ranker_config.kind}"):
        mlflow.set_tags({"relay.stage": "ranker", "dagster.run_id": context.run.run_id})
        mlflow.log_params(
            {
                **asdict(ranker_config),
                **training_window.as_dict(),
                "feature_service": service,
                "embedding_version": sasrec_embeddings,
                "training_set": Path(ranker_training_set).name,
            }
        )
        mlflow.log_metrics({**result.metrics, **calibration, f"retrieval_recall_at_{RETRIEVAL_K}": recall})
        mlflow.log_artifact(str(diagram), artifact_path="calibration")
        registered = registry.log_ranker(bundle, frame.head(50), settings.ranker_model_name, lineage)
    return dg.Output(
        {"version": registered.version, "run_id": registered.run_id, "embedding_version": sasrec_embeddings},
        metadata={
            "model_version": registered.version,
            "ranker_kind": ranker_config.kind,
            "best_iteration": result.best_iteration,
            **floats(result.metrics),
            **floats(calibration),
            "feature_importance_gain": dg.MetadataValue.json(result.ranker.feature_importance()),
            f"retrieval_recall_at_{RETRIEVAL_K}": recall,
            "reliability_diagram": dg.MetadataValue.path(str(diagram)),
            "guard": dg.MetadataValue.json(result.guard_report.as_dict() if result.guard_report else {}),
        },
    )
