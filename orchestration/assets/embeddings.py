"""Embedding stage: the shared temporal split, SASRec training, and versioned embedding features."""

import json
import sys
from dataclasses import asdict
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd

from core.events import read_events
from core.lake import accepted_days
from orchestration.metadata import floats, preview
from orchestration.partition_gate import FEATURE_ASSETS, require_usable
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from quality.contracts import partition_window
from quality.partition_gate import INGEST_ASSET, ingested_days
from training import registry
from training.sasrec.checkpoint import load_checkpoint, save_checkpoint
from training.sasrec.continuous import finetune_day
from training.sasrec.data import Vocabulary
from training.sasrec.embedding_tables import serve_embeddings, write_embedding_tables
from training.sasrec.model import SASRec
from training.sasrec.train import SASRecTrainConfig, config_flags, train_sasrec
from training.sasrec.warm import grow_vocabulary
from training.split import SplitConfig, TemporalSplit, temporal_split


class SplitSettings(dg.Config):
    holdout_days: int = 7
    ranker_days: int = 14
    min_sasrec_days: int = 7


class SASRecSettings(dg.Config):
    """Dagster mirror of ``SASRecTrainConfig`` (editable in the launchpad), plus how to launch."""

    max_len: int = 50
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    attn_dropout: float = 0.2
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    patience: int = 4
    seed: int = 0
    launch: str = "in_process"  # or "subprocess": Dagster Pipes, under torchrun when nproc > 1
    nproc: int = 1
    init: str = "scratch"  # or "latest": warm-start from the newest registered SASRec (e.g. a daily fine-tune)

    def train_config(self) -> SASRecTrainConfig:
        return SASRecTrainConfig(**self.model_dump(exclude={"launch", "nproc", "init"}))


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


def _train_in_subprocess(
    context: dg.AssetExecutionContext, work: Path, clicks: pd.DataFrame, config: SASRecSettings, warm: bool
) -> tuple[SASRec, Vocabulary, dict]:
    """Train through Dagster Pipes in a child process (torchrun with ``nproc`` ranks when > 1)."""
    clicks_path, out = work / "clicks.parquet", work / "sasrec.pt"
    clicks.to_parquet(clicks_path, index=False)
    module = [
        "-m",
        "orchestration.pipes_sasrec",
        "--clicks",
        str(clicks_path),
        "--out",
        str(out),
        "--state",
        str(work / "state.pt"),
        "--resume",
        *config_flags(config.train_config()),
        *(["--init", str(work / "init.pt")] if warm else []),
    ]
    if config.nproc > 1:
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        command = [torchrun, "--standalone", f"--nproc_per_node={config.nproc}", *module]
    else:
        command = [sys.executable, *module]
    dg.PipesSubprocessClient().run(command=command, context=context)
    model, vocabulary, _ = load_checkpoint(out)
    return model, vocabulary, json.loads(out.with_suffix(".json").read_text())


@dg.asset(group_name="embeddings")
def sasrec_model(
    context: dg.AssetExecutionContext,
    config: SASRecSettings,
    training_window: TemporalSplit,
    lake: LakeResource,
    mlflow_tracking: MLflowResource,
) -> dg.Output[dict]:
    """Train SASRec on clicks before the ranker window; log the run and register the model.

    In-process by default; ``launch: subprocess`` runs the same entrypoint through Dagster
    Pipes (and torchrun when ``nproc`` > 1). Either way every epoch is checkpointed, so a retry
    of the run resumes instead of starting over.
    """
    settings = lake.settings()
    train_config = config.train_config()
    with lake.connect() as con:
        clicks = read_events(con, end=training_window.ranker_start_ts, event_type="click")
    work = settings.models_dir / f"run-{context.run.run_id}"
    work.mkdir(parents=True, exist_ok=True)
    mlflow_tracking.configure()
    init, vocabulary, parent = None, None, None
    if config.init == "latest":
        parent = registry.latest_version(settings.sasrec_model_name)
        if parent is None:
            raise dg.Failure("sasrec_model: init=latest, but no SASRec is registered yet")
        previous, previous_vocabulary = registry.load_sasrec(settings.sasrec_model_name, parent)
        init, vocabulary = grow_vocabulary(previous, previous_vocabulary, clicks["item_id"].unique())
        save_checkpoint(work / "init.pt", init, vocabulary)
    elif config.init != "scratch":
        raise dg.Failure(f"sasrec_model: unknown init {config.init!r}; use scratch or latest")
    if config.launch == "subprocess":
        model, vocabulary, summary = _train_in_subprocess(context, work, clicks, config, parent is not None)
    elif config.launch == "in_process":
        result = train_sasrec(
            clicks, train_config, vocabulary=vocabulary, init=init, state_path=work / "state.pt", resume=True
        )
        model, vocabulary = result.model, result.vocabulary
        summary = {
            "best_epoch": result.best_epoch,
            **result.best_metrics,
            "fit_s": result.fit_s,
            "history": result.history,
            "n_sequences": result.n_sequences,
            "sequences_per_s": result.sequences_per_s,
        }
    else:
        raise dg.Failure(f"sasrec_model: unknown launch {config.launch!r}; use in_process or subprocess")

    with mlflow.start_run(run_name="sasrec"):
        mlflow.set_tags(
            {
                "relay.stage": "embeddings",
                "dagster.run_id": context.run.run_id,
                "launch": config.launch,
                "warm_started_from": parent or "scratch",
            }
        )
        mlflow.log_params(
            {**asdict(train_config), **training_window.as_dict(), "train_clicks": len(clicks), "nproc": config.nproc}
        )
        for record in summary["history"]:
            mlflow.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
        checkpoint = work / "sasrec-final.pt"
        digest = save_checkpoint(checkpoint, model, vocabulary, {"train_config": asdict(train_config)})
        best = {k: float(summary[k]) for k in ("val_ndcg_at_10", "val_hr_at_10") if k in summary}
        mlflow.log_metrics(
            {
                **{f"best_{k}": v for k, v in best.items()},
                "fit_s": summary["fit_s"],
                "best_epoch": summary["best_epoch"],
                "sequences_per_s": summary["sequences_per_s"],
            }
        )
        registered = registry.log_sasrec(checkpoint, settings.sasrec_model_name)
    return dg.Output(
        {"version": registered.version, "run_id": registered.run_id, "sha256": digest},
        metadata={
            "model_version": registered.version,
            "launch": config.launch,
            "train_clicks": len(clicks),
            "sequences": summary["n_sequences"],
            "best_epoch": summary["best_epoch"],
            **floats({f"best_{k}": v for k, v in best.items()}),
            "fit_s": summary["fit_s"],
            "parameters": sum(p.numel() for p in model.parameters()),
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


@dg.asset(
    deps=["clean_events"],
    partitions_def=daily_partitions,
    group_name="embeddings",
)
def sasrec_daily(
    context: dg.AssetExecutionContext, lake: LakeResource, mlflow_tracking: MLflowResource
) -> dg.MaterializeResult:
    """Fine-tune the newest SASRec on the partition's events, warm-started, and register it.

    The next training cycle can start from it (``sasrec_model`` with ``init: latest``) instead of
    from scratch. New items grow the vocabulary; known items keep their vectors.
    """
    settings = lake.settings()
    (day,) = partition_days(context)
    require_usable(settings, [day], f"sasrec_daily for {day}")
    mlflow_tracking.configure()
    base = registry.latest_version(settings.sasrec_model_name)
    if base is None:
        raise dg.Failure(f"sasrec_daily {day}: no SASRec is registered yet; run the training cycle first")
    model, vocabulary = registry.load_sasrec(settings.sasrec_model_name, base)
    end = partition_window(day)[1]
    with lake.connect() as con:
        clicks = read_events(con, end=end, event_type="click")
    result = finetune_day(model, vocabulary, clicks, day, SASRecTrainConfig())
    work = settings.models_dir / f"daily-{day}"
    checkpoint = work / "sasrec.pt"
    save_checkpoint(checkpoint, result.model, result.vocabulary, {"warm_started_from": base, "day": day})
    with mlflow.start_run(run_name=f"sasrec-daily-{day}"):
        mlflow.set_tags({"relay.stage": "embeddings", "mode": "warm", "parent_version": base, "partition": day})
        mlflow.log_metrics(
            {
                **{f"best_{k}": v for k, v in result.best_metrics.items() if k != "epoch"},
                "sequences_trained": result.sequences_seen,
                "fit_s": result.fit_s,
            }
        )
        registered = registry.log_sasrec(checkpoint, settings.sasrec_model_name)
    registry.tag_version(
        settings.sasrec_model_name, registered.version, {"mode": "warm", "parent_version": base, "day": day}
    )
    return dg.MaterializeResult(
        metadata={
            "model_version": registered.version,
            "warm_started_from": base,
            "items": len(result.vocabulary),
            "new_items": len(result.vocabulary) - len(vocabulary),
            "sequences_trained": result.sequences_seen,
            "fit_s": round(result.fit_s, 2),
            **floats({k: v for k, v in result.best_metrics.items() if k != "epoch"}),
        }
    )
