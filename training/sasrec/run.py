"""One SASRec training run as the pipeline sees it: trained, logged, registered.

The frozen result is what the ``sasrec_model`` asset returns and ``sasrec_embeddings`` reads.
``train_and_register_sasrec`` is the whole run, callable without an orchestrator: only the
child-process launch (Dagster Pipes, torchrun) is passed in, as a ``Launcher``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from training import registry
from training.sasrec.checkpoint import load_checkpoint, save_checkpoint
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec
from training.sasrec.train import SASRecTrainConfig, config_flags, train_sasrec
from training.sasrec.warm import grow_vocabulary
from training.split import TemporalSplit

LAUNCHES = ("in_process", "subprocess")
INITS = ("scratch", "latest")
BEST_KEYS = ("val_ndcg_at_10", "val_hr_at_10")

# Runs the training entrypoint (``training.sasrec.train`` flags) in ``nproc`` child processes.
Launcher = Callable[[list[str], int], None]


class SASRecRefused(RuntimeError):
    """The run was asked for something it cannot do (an unknown launch, nothing to warm-start from)."""


@dataclass(frozen=True)
class SASRecLaunch:
    """How a run trains: here or in child processes, on how many ranks, from scratch or warm."""

    launch: str = "in_process"  # or "subprocess": through the Launcher (Dagster Pipes, torchrun when nproc > 1)
    nproc: int = 1
    init: str = "scratch"  # or "latest": warm-start from the newest registered SASRec; or "catchup": the
    # ``sasrec_model`` asset trains a new architecture by a catch-up strategy instead (``training.catchup.run``)


@dataclass(frozen=True)
class SASRecRun:
    version: int  # registered version of ``relay-sasrec``
    run_id: str  # the MLflow run that logged it
    sha256: str  # digest of the final checkpoint
    launch: str = "in_process"
    warm_started_from: int | None = None
    train_clicks: int = 0
    sequences: int = 0
    best_epoch: int = 0
    fit_s: float = 0.0
    parameters: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_legacy(cls, stored: dict) -> SASRecRun:
        """The dict the ``sasrec_model`` asset returned before typed results."""
        return cls(version=int(stored["version"]), run_id=str(stored["run_id"]), sha256=str(stored["sha256"]))


@dataclass(frozen=True)
class SASRecFineTune:
    """A daily warm-started fine-tune, registered as a new SASRec version."""

    version: int
    run_id: str
    day: str
    warm_started_from: int
    items: int
    new_items: int
    sequences_trained: int
    fit_s: float
    best_metrics: dict[str, float] = field(default_factory=dict)  # the best epoch's record, without "epoch"


def train_and_register_sasrec(
    settings: RelaySettings,
    config: SASRecTrainConfig,
    how: SASRecLaunch,
    split: TemporalSplit,
    work: Path,
    launcher: Launcher | None = None,
    tags: dict[str, str] | None = None,
) -> SASRecRun:
    """Train SASRec on the clicks before the ranker window, log the run and register the model.

    ``init="latest"`` warm-starts from the newest registered SASRec; ``launch="subprocess"``
    trains through ``launcher`` instead of in this process. Every epoch is checkpointed under
    ``work``, so a retry with the same ``work`` resumes instead of starting over.
    """
    launch, nproc, init = how.launch, how.nproc, how.init
    if launch not in LAUNCHES:
        raise SASRecRefused(f"sasrec_model: unknown launch {launch!r}; use in_process or subprocess")
    if init not in INITS:
        raise SASRecRefused(f"sasrec_model: unknown init {init!r}; use scratch, latest or catchup (the catch-up path)")
    if launch == "subprocess" and launcher is None:
        raise SASRecRefused("sasrec_model: launch=subprocess needs a launcher")
    with lake.connect(settings) as con:
        clicks = read_events(con, end=split.ranker_start_ts, event_type="click")
    work.mkdir(parents=True, exist_ok=True)
    registry.configure(settings)
    start, vocabulary, parent = _warm_start(settings, clicks, work) if init == "latest" else (None, None, None)
    if launch == "subprocess":
        model, vocabulary, summary = _train_in_children(launcher, work, clicks, config, nproc, parent is not None)
    else:
        model, vocabulary, summary = _train_here(clicks, config, vocabulary, start, work)

    with registry.tracked_run(run_name="sasrec"):
        registry.set_tags(
            {"relay.stage": "embeddings", **(tags or {}), "launch": launch, "warm_started_from": parent or "scratch"}
        )
        registry.log_params({**asdict(config), **split.as_dict(), "train_clicks": len(clicks), "nproc": nproc})
        for record in summary["history"]:
            registry.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
        checkpoint = work / "sasrec-final.pt"
        digest = save_checkpoint(checkpoint, model, vocabulary, {"train_config": asdict(config)})
        best = {k: float(summary[k]) for k in BEST_KEYS if k in summary}
        registry.log_metrics(
            {
                **{f"best_{k}": v for k, v in best.items()},
                "fit_s": summary["fit_s"],
                "best_epoch": summary["best_epoch"],
                "sequences_per_s": summary["sequences_per_s"],
            }
        )
        registered = registry.log_sasrec(checkpoint, settings.sasrec_model_name)
    return SASRecRun(
        version=registered.version,
        run_id=registered.run_id,
        sha256=digest,
        launch=launch,
        warm_started_from=parent,
        train_clicks=len(clicks),
        sequences=int(summary["n_sequences"]),
        best_epoch=int(summary["best_epoch"]),
        fit_s=float(summary["fit_s"]),
        parameters=sum(p.numel() for p in model.parameters()),
        best_metrics=best,
    )


def _warm_start(settings: RelaySettings, clicks: pd.DataFrame, work: Path) -> tuple[SASRec, Vocabulary, int]:
    """The newest registered SASRec grown to this window's items, also saved for a child process."""
    parent = registry.latest_version(settings.sasrec_model_name)
    if parent is None:
        raise SASRecRefused("sasrec_model: init=latest, but no SASRec is registered yet")
    previous, previous_vocabulary = registry.load_sasrec(settings.sasrec_model_name, parent)
    start, vocabulary = grow_vocabulary(previous, previous_vocabulary, clicks["item_id"].unique())
    save_checkpoint(work / "init.pt", start, vocabulary)
    return start, vocabulary, parent


def _train_here(
    clicks: pd.DataFrame, config: SASRecTrainConfig, vocabulary: Vocabulary | None, start: SASRec | None, work: Path
) -> tuple[SASRec, Vocabulary, dict]:
    result = train_sasrec(clicks, config, vocabulary=vocabulary, init=start, state_path=work / "state.pt", resume=True)
    summary = {
        "best_epoch": result.best_epoch,
        **result.best_metrics,
        "fit_s": result.fit_s,
        "history": result.history,
        "n_sequences": result.n_sequences,
        "sequences_per_s": result.sequences_per_s,
    }
    return result.model, result.vocabulary, summary


def _train_in_children(
    launcher: Launcher, work: Path, clicks: pd.DataFrame, config: SASRecTrainConfig, nproc: int, warm: bool
) -> tuple[SASRec, Vocabulary, dict]:
    """Hand the entrypoint's flags to ``launcher``; read back the checkpoint and summary it wrote."""
    clicks_path, out = work / "clicks.parquet", work / "sasrec.pt"
    clicks.to_parquet(clicks_path, index=False)
    flags = ["--clicks", str(clicks_path), "--out", str(out), "--state", str(work / "state.pt"), "--resume"]
    launcher([*flags, *config_flags(config), *(["--init", str(work / "init.pt")] if warm else [])], nproc)
    model, vocabulary, _ = load_checkpoint(out)
    return model, vocabulary, json.loads(out.with_suffix(".json").read_text())
