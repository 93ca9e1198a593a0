"""Embedding stage: the shared temporal split, SASRec training, and versioned embedding features."""

import sys
from pathlib import Path

import dagster as dg

from orchestration.dataclass_config import config_class, from_config
from orchestration.failures import failure_on
from orchestration.metadata import floats, preview
from orchestration.partition_gate import FEATURE_ASSETS, require_usable
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from quality.partition_gate import INGEST_ASSET, ingested_days
from training.cycle_split import cycle_split
from training.sasrec.continuous import finetune_and_register_sasrec
from training.sasrec.publish import PublishedEmbeddings, publish_embeddings
from training.sasrec.run import (
    Launcher,
    SASRecFineTune,
    SASRecLaunch,
    SASRecRefused,
    SASRecRun,
    train_and_register_sasrec,
)
from training.sasrec.train import SASRecTrainConfig
from training.split import SplitConfig, TemporalSplit

SplitSettings = config_class("SplitSettings", "The temporal split (``SplitConfig``).", SplitConfig)
SASRecSettings = config_class(
    "SASRecSettings",
    "``SASRecTrainConfig`` and ``SASRecLaunch``, editable in the launchpad.",
    SASRecTrainConfig,
    SASRecLaunch,
)


def pipes_launcher(context: dg.AssetExecutionContext) -> Launcher:
    """Run the SASRec entrypoint through Dagster Pipes (torchrun with ``nproc`` ranks when > 1)."""

    def launch(flags: list[str], nproc: int) -> None:
        module = ["-m", "orchestration.pipes_sasrec", *flags]
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        command = [torchrun, "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable]
        dg.PipesSubprocessClient().run(command=[*command, *module], context=context)

    return launch


@dg.asset(deps=["clean_events", "online_features"], group_name="embeddings")
def training_window(config: SplitSettings, lake: LakeResource) -> dg.Output[TemporalSplit]:
    """The split every model of this cycle shares: SASRec days | ranker days | holdout days
    (an imported log holds out its last 10% of interactions; see ``training.cycle_split``).

    It refuses to train over a hole: every ingested partition must be usable (or overridden),
    so a blocked day stops the cycle and the champion stays as it is.
    """
    settings = lake.settings()
    require_usable(settings, ingested_days(settings), "training_window", (INGEST_ASSET, *FEATURE_ASSETS))
    split = cycle_split(settings, from_config(config, SplitConfig))
    return dg.Output(split, metadata=dict(split.as_dict()))


@dg.asset(group_name="embeddings")
def sasrec_model(
    context: dg.AssetExecutionContext,
    config: SASRecSettings,
    training_window: TemporalSplit,
    lake: LakeResource,
    mlflow_tracking: MLflowResource,
) -> dg.Output[SASRecRun]:
    """Train SASRec on clicks before the ranker window; log the run and register the model.

    In-process by default; ``launch: subprocess`` runs the same entrypoint through Dagster
    Pipes (and torchrun when ``nproc`` > 1). Either way every epoch is checkpointed, so a retry
    of the run resumes instead of starting over.
    """
    settings, run_id = lake.settings(), context.run.run_id
    train, how = from_config(config, SASRecTrainConfig), from_config(config, SASRecLaunch)
    work, tags = settings.models_dir / f"run-{run_id}", {"dagster.run_id": run_id}
    with failure_on(SASRecRefused):
        run = train_and_register_sasrec(settings, train, how, training_window, work, pipes_launcher(context), tags)
    return dg.Output(run, metadata=_trained_metadata(run))


def _trained_metadata(run: SASRecRun) -> dict[str, object]:
    return {
        "model_version": run.version,
        "launch": run.launch,
        "train_clicks": run.train_clicks,
        "sequences": run.sequences,
        "best_epoch": run.best_epoch,
        **floats({f"best_{k}": v for k, v in run.best_metrics.items()}),
        "fit_s": run.fit_s,
        "parameters": run.parameters,
    }


@dg.asset(group_name="embeddings")
def sasrec_embeddings(
    sasrec_model: SASRecRun,
    training_window: TemporalSplit,
    lake: LakeResource,
    feast: FeastResource,
    mlflow_tracking: MLflowResource,
) -> dg.Output[int]:
    """As-of-day user and item embeddings of this SASRec version, registered and served by Feast.

    The champion's embedding version is refreshed with the same histories, so the model that
    keeps serving sees today's users too.
    """
    published = publish_embeddings(lake.settings(), feast.store(), sasrec_model.version, training_window)
    return dg.Output(published.version, metadata=_published_metadata(published))


def _published_metadata(published: PublishedEmbeddings) -> dict[str, object]:
    refreshed = published.refreshed_champion_version
    return {
        "embedding_version": published.version,
        "user_rows": published.user_rows,
        "users": published.users,
        "items": published.items,
        "refreshed_champion_version": refreshed if refreshed is not None else "none",
        "online_loads": dg.MetadataValue.json(published.online_loads),
        "preview": preview(published.user_preview),
    }


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
    with failure_on(SASRecRefused):
        tuned = finetune_and_register_sasrec(settings, day)
    return dg.MaterializeResult(metadata=_fine_tune_metadata(tuned))


def _fine_tune_metadata(tuned: SASRecFineTune) -> dict[str, object]:
    return {
        "model_version": tuned.version,
        "warm_started_from": tuned.warm_started_from,
        "items": tuned.items,
        "new_items": tuned.new_items,
        "sequences_trained": tuned.sequences_trained,
        "fit_s": round(tuned.fit_s, 2),
        **floats(tuned.best_metrics),
    }
