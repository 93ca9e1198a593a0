"""Ranker stage: a point-in-time training set from Feast, and LightGBM lambdarank in MLflow."""

import dagster as dg

from orchestration.dataclass_config import config_class, from_config
from orchestration.metadata import floats, preview
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from training.ranker.fit import RETRIEVAL_K
from training.ranker.lgbm import RankerConfig
from training.ranker.run import RankerRun, train_and_register_ranker
from training.ranker.training_set import RankerTrainingData, build_ranker_training_set
from training.sasrec.run import SASRecRun
from training.split import TemporalSplit

RankerSettings = config_class(
    "RankerSettings", "Every field of ``RankerConfig`` (``kind``: lightgbm or neural).", RankerConfig
)


@dg.asset(group_name="ranker")
def ranker_training_set(
    training_window: TemporalSplit, sasrec_embeddings: int, lake: LakeResource, feast: FeastResource
) -> dg.Output[RankerTrainingData]:
    """SASRec's candidates of the ranker window (and real impressions) labelled with clicks, joined
    point in time to Feast features."""
    built = build_ranker_training_set(lake.settings(), feast.store(), training_window, sasrec_embeddings)
    return dg.Output(
        built,
        metadata={
            "rows": built.rows,
            "rows_by_source": dg.MetadataValue.json(built.rows_by_source),
            "sessions": built.sessions,
            "positive_rate": built.positive_rate,
            "feature_service": built.feature_service,
            "sasrec_score_null_share": built.sasrec_score_null_share,
            "guard": dg.MetadataValue.json(built.guard),
            "preview": preview(built.head),
        },
    )


@dg.asset(group_name="ranker")
def ranker_model(
    context: dg.AssetExecutionContext,
    config: RankerSettings,
    ranker_training_set: RankerTrainingData,
    sasrec_embeddings: int,
    sasrec_model: SASRecRun,
    training_window: TemporalSplit,
    lake: LakeResource,
    mlflow_tracking: MLflowResource,
) -> dg.Output[RankerRun]:
    """Train the ranker (LightGBM lambdarank or the neural one), calibrate it with isotonic
    regression on the window's last day, bundle it with the SASRec retrieval it depends on, and
    register it with its lineage."""
    settings, run_id, ranker = lake.settings(), context.run.run_id, from_config(config, RankerConfig)
    work, tags = settings.models_dir / f"run-{run_id}", {"dagster.run_id": run_id}
    run = train_and_register_ranker(
        settings, ranker, ranker_training_set, sasrec_embeddings, sasrec_model.version, training_window, work, tags
    )
    return dg.Output(run, metadata=_trained_metadata(run))


def _trained_metadata(run: RankerRun) -> dict[str, object]:
    return {
        "model_version": run.version,
        "ranker_kind": run.kind,
        "best_iteration": run.best_iteration,
        **floats(run.metrics),
        **floats(run.calibration),
        "feature_importance_gain": dg.MetadataValue.json(run.feature_importance),
        f"retrieval_recall_at_{RETRIEVAL_K}": run.retrieval_recall,
        "reliability_diagram": dg.MetadataValue.path(run.reliability_diagram),
        "guard": dg.MetadataValue.json(run.guard),
    }
