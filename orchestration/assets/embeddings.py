"""Embedding stage: the shared temporal split, SASRec training, and versioned embedding features."""

from dataclasses import asdict

import dagster as dg
import mlflow

from orchestration.gating import FEATURE_ASSETS, require_usable
from orchestration.metadata import floats, preview
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from relay import registry
from relay.embeddings import serve_embeddings, write_embedding_tables
from relay.events import read_events
from relay.lake import accepted_days
from relay.quality.gate import INGEST_ASSET, ingested_days
from training.sasrec.checkpoint import save_checkpoint
from training.sasrec.train import SASRecTrainConfig, train_sasrec
from training.split import SplitConfig, TemporalSplit, temporal_split


class SplitSettings(dg.Config):
    holdout_days: int = 7
    ranker_days: int = 14
    min_sasrec_days: int = 7


class SASRecSettings(dg.Config):
    """Dagster mirror of ``SASRecTrainConfig`` (editable in the launchpad)."""

    max_len: int = 50
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    patience: int = 4
    seed: int = 0


@dg.asset(deps=["clean_events", "online_features"], group_name="embeddings")
def training_window(config: SplitSettings, lake: LakeResource) -> dg.Output[TemporalSplit]:
    """The split every model of this cycle shares: SASRec days | ranker days | holdout days.

    It refuses to train over a hole: every ingested partition must be usable (or overridden),
    so a blocked day stops the cycle and the champion stays as it is.
    """
    settings = lake.settings()
    require_usable(settings, ingested_days(settings), "training_window", (INGEST_ASSET, *FEATURE_ASSETS))
    split = temporal_split(accepted_days(settings), SplitConfig(**config.model_dump()))
    return dg.Output(split, metadata=dict(split.as_dict()))


@dg.asset(group_name="embeddings")
def sasrec_model(
    context: dg.AssetExecutionContext,
    config: SASRecSettings,
    training_window: TemporalSplit,
    lake: LakeResource,
    mlflow_tracking: MLflowResource,
) -> dg.Output[dict]:
    """Train SASRec on clicks before the ranker window; log the run and register the model."""
    settings = lake.settings()
    train_config = SASRecTrainConfig(**config.model_dump())
    with lake.connect() as con:
        clicks = read_events(con, end=training_window.ranker_start_ts, event_type="click")
    mlflow_tracking.configure()
    with mlflow.start_run(run_name="sasrec") as run:
        mlflow.set_tags({"relay.stage": "embeddings", "dagster.run_id": context.run.run_id})
        mlflow.log_params({**asdict(train_config), **training_window.as_dict(), "train_clicks": len(clicks)})
        result = train_sasrec(
            clicks,
            train_config,
            on_epoch=lambda r: mlflow.log_metrics({k: v for k, v in r.items() if k != "epoch"}, step=int(r["epoch"])),
        )
        checkpoint = settings.models_dir / f"sasrec-{run.info.run_id}.pt"
        digest = save_checkpoint(checkpoint, result.model, result.vocabulary, {"train_config": asdict(train_config)})
        best = {f"best_{k}": v for k, v in result.best_metrics.items() if k != "epoch"}
        mlflow.log_metrics({**best, "fit_s": result.fit_s, "best_epoch": result.best_epoch})
        registered = registry.log_sasrec(checkpoint, settings.sasrec_model_name)
    summary = {"version": registered.version, "run_id": registered.run_id, "sha256": digest}
    return dg.Output(
        summary,
        metadata={
            "model_version": registered.version,
            "train_clicks": len(clicks),
            "sequences": result.n_sequences,
            "best_epoch": result.best_epoch,
            **floats(best),
            "fit_s": result.fit_s,
        },
    )


@dg.asset(group_name="embeddings")
def sasrec_embeddings(
    sasrec_model: dict,
    training_window: TemporalSplit,
    lake: LakeResource,
    feast: FeastResource,
    mlflow_tracking: MLflowResource,
) -> dg.Output[int]:
    """As-of-day user and item embeddings of this SASRec version, registered and served by Feast.

    The champion's embedding version is refreshed with the same histories, so the model that
    keeps serving sees today's users too.
    """
    settings = lake.settings()
    mlflow_tracking.configure()
    version = int(sasrec_model["version"])
    with lake.connect() as con:
        clicks = read_events(con, event_type="click")
    model, vocabulary = registry.load_sasrec(settings.sasrec_model_name, version)
    tables = write_embedding_tables(settings, model, vocabulary, clicks, version, training_window.ranker_start_ts)
    store = feast.store()
    first_day = clicks["ts"].min().floor("D")
    online = serve_embeddings(store, settings, version, first_day, training_window.end_ts)

    refreshed = None
    champion_embedding = registry.champion_embedding_version(settings.ranker_model_name)
    if champion_embedding is not None and champion_embedding != version:
        old_model, old_vocabulary = registry.load_sasrec(settings.sasrec_model_name, champion_embedding)
        write_embedding_tables(settings, old_model, old_vocabulary, clicks, champion_embedding, valid_from=None)
        online |= serve_embeddings(store, settings, champion_embedding, first_day, training_window.end_ts)
        refreshed = champion_embedding
    return dg.Output(
        version,
        metadata={
            "embedding_version": version,
            "user_rows": tables.user_rows,
            "users": tables.users,
            "items": tables.item_rows,
            "refreshed_champion_version": refreshed if refreshed is not None else "none",
            "online_loads": dg.MetadataValue.json(online),
            "preview": preview(tables.user_preview),
        },
    )
