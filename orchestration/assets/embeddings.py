"""Embedding stage: the shared temporal split, SASRec training, and versioned embedding features."""

import sys
from pathlib import Path

import dagster as dg

from core.settings import RelaySettings
from orchestration.dataclass_config import config_class, from_config
from orchestration.failures import failure_on
from orchestration.metadata import floats, preview
from orchestration.partition_gate import FEATURE_ASSETS, require_usable
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import FeastResource, LakeResource, MLflowResource
from quality.partition_gate import INGEST_ASSET, ingested_days
from training.catchup.run import CATCHUP_INIT, CatchupLaunch, CatchupRun, catch_up_and_register
from training.cycle_split import cycle_split
from training.sasrec.collapse import EmbeddingsCollapsed
from training.sasrec.continuous import finetune_and_register_sasrec
from training.sasrec.divergence import TrainingDiverged
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
    "``SASRecTrainConfig`` and ``SASRecLaunch``, editable in the launchpad; with ``init: catchup``, "
    "the ``catchup_*`` fields (``CatchupLaunch``).",
    SASRecTrainConfig,
    SASRecLaunch,
    CatchupLaunch,
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

    ``init: catchup`` (the ``catchup`` job) trains the ``catchup_arch`` challenger by the
    ``catchup_strategy`` instead, with the champion's SASRec as teacher, in process; the
    architecture brings its own training recipe, so of the other fields only ``seed`` applies.
    Its lineage (teacher, strategy, compute, the curve) is in the metadata and the registry tags.
    """
    settings, run_id = lake.settings(), context.run.run_id
    train, how = from_config(config, SASRecTrainConfig), from_config(config, SASRecLaunch)
    work, tags = settings.models_dir / f"run-{run_id}", {"dagster.run_id": run_id}
    if how.init == CATCHUP_INIT:
        run = _catch_up(context, config, how, train.seed, settings, training_window, work, tags)
        return dg.Output(run, metadata={**_trained_metadata(run), **_catchup_metadata(run)})
    with failure_on(SASRecRefused, TrainingDiverged):
        run = train_and_register_sasrec(settings, train, how, training_window, work, pipes_launcher(context), tags)
    return dg.Output(run, metadata=_trained_metadata(run))


def _catch_up(
    context: dg.AssetExecutionContext,
    config: dg.Config,
    how: SASRecLaunch,
    seed: int,
    settings: RelaySettings,
    split: TemporalSplit,
    work: Path,
    tags: dict[str, str],
) -> CatchupRun:
    """``sasrec_model`` with ``init: catchup``. A bad name or launch fails the step with the
    reason (the choices), not a stack trace."""
    if (how.launch, how.nproc) != ("in_process", 1):
        raise dg.Failure(description="sasrec_model: init=catchup trains in process (launch: in_process, nproc: 1)")
    with failure_on(ValueError):
        catchup = from_config(config, CatchupLaunch).config(seed=seed)
    with failure_on(SASRecRefused, TrainingDiverged):
        run = catch_up_and_register(settings, catchup, split, work, tags)
    context.log.info(
        f"catch-up: relay-sasrec v{run.version}, {run.arch} by {run.strategy}, incumbent v{run.teacher_version}, "
        f"{run.cpu_s:.1f} CPU-s; validation NDCG@10 {run.best_metrics.get('val_ndcg_at_10', float('nan')):.4f} "
        f"(incumbent on the same users {run.incumbent_val_ndcg_at_10:.4f})"
    )
    return run


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


def _catchup_metadata(run: CatchupRun) -> dict[str, object]:
    return {
        "catchup_arch": run.arch,
        "catchup_strategy": run.strategy,
        "teacher_version": run.teacher_version if run.teacher_version is not None else "none",
        "cpu_s": round(run.cpu_s, 2),
        "flops": dg.MetadataValue.float(run.flops),
        "incumbent_val_ndcg_at_10": dg.MetadataValue.float(run.incumbent_val_ndcg_at_10),
        "mlflow_run_id": run.run_id,
        "curve": dg.MetadataValue.path(run.curve),
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
    with failure_on(EmbeddingsCollapsed):
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
    with failure_on(SASRecRefused, TrainingDiverged):
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
