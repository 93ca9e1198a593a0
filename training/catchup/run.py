"""A catch-up run as the platform sees it: trained by a strategy, logged, registered, tagged.

The challenger trains on the same clicks an ordinary ``sasrec_model`` run would (everything
before the ranker window) and returns a ``SASRecRun`` (a ``CatchupRun``), so the rest of the
cycle (embedding backfill over the ranker window, the ranker, the promotion gate) is the
ordinary one. The run logs its quality-against-compute curve next to the incumbent's level and
recorded compute, and the registered version is tagged with its teacher, architecture,
strategy and compute.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from training import registry
from training.catchup.strategies import CatchupConfig, CatchupResult, catch_up
from training.sasrec.checkpoint import save_checkpoint
from training.sasrec.data import Vocabulary, split_last_item, user_sequences
from training.sasrec.model import SASRec
from training.sasrec.run import SASRecRefused, SASRecRun
from training.sasrec.side_features import category_map
from training.sasrec.train import validation_ndcg
from training.split import TemporalSplit

CATCHUP_INIT = "catchup"  # ``SASRecLaunch.init`` that makes ``sasrec_model`` run a catch-up


@dataclass(frozen=True)
class CatchupLaunch:
    """The catch-up fields of ``sasrec_model``'s config, read when ``init`` is ``catchup``.

    Prefixed because they share Dagster's one config namespace with ``SASRecTrainConfig``
    (``seed`` is in both); the rest of ``CatchupConfig`` keeps the benchmark's values.
    """

    catchup_arch: str = CatchupConfig.arch
    catchup_strategy: str = CatchupConfig.strategy
    catchup_recent_days: int = CatchupConfig.recent_days
    catchup_replay_days: int = CatchupConfig.replay_days

    def config(self, seed: int = 0) -> CatchupConfig:
        """The validated ``CatchupConfig`` (ValueError naming the choices for an unknown name)."""
        return CatchupConfig(
            arch=self.catchup_arch,
            strategy=self.catchup_strategy,
            recent_days=self.catchup_recent_days,
            replay_days=self.catchup_replay_days,
            seed=seed,
        )


@dataclass(frozen=True)
class CatchupRun(SASRecRun):
    """A ``SASRecRun`` (what the rest of the cycle reads) with the catch-up's lineage."""

    arch: str = ""
    strategy: str = ""
    teacher_version: int | None = None  # the incumbent it learned from, or (scratch, recent) was measured against
    cpu_s: float = 0.0  # training CPU-seconds, teacher passes included (``training.catchup.compute``)
    flops: float = 0.0
    incumbent_val_ndcg_at_10: float = math.nan  # the teacher on the challenger's own validation users
    curve: str = ""  # the quality-against-compute PNG (also an artifact of the MLflow run)

    @property
    def lineage(self) -> dict[str, str]:
        """The registry tags of the version (``catchup.*``)."""
        return {
            "catchup.arch": self.arch,
            "catchup.strategy": self.strategy,
            "catchup.teacher_version": str(self.teacher_version) if self.teacher_version is not None else "none",
            "catchup.cpu_s": f"{self.cpu_s:.2f}",
            "catchup.flops": f"{self.flops:.4g}",
            "catchup.sequences": str(self.sequences),
        }


def incumbent_version(settings: RelaySettings) -> int | None:
    """The SASRec the champion ranker reads; without a champion, the newest registered one."""
    return registry.champion_embedding_version(settings.ranker_model_name) or registry.latest_version(
        settings.sasrec_model_name
    )


def recorded_compute(settings: RelaySettings, version: int) -> dict[str, float]:
    """What the registry recorded for ``version`` and every ancestor of its daily fine-tunes
    (``parent_version`` tags): training seconds and sequences, summed over the lineage."""
    fit_s = sequences = 0.0
    versions = 0
    current: int | None = version
    while current is not None:
        metrics = registry.version_run_metrics(settings.sasrec_model_name, current)
        fit_s += metrics.get("fit_s", 0.0)
        sequences += metrics.get("sequences_trained", metrics.get("sequences_per_s", 0.0) * metrics.get("fit_s", 0.0))
        versions += 1
        parent = registry.version_tags(settings.sasrec_model_name, current).get("parent_version")
        current = int(parent) if parent else None
    return {"fit_s": fit_s, "sequences": sequences, "versions": versions}


def strategy_clicks(clicks: pd.DataFrame, result: CatchupResult) -> pd.DataFrame:
    """The clicks the strategy trained and validated on. Every strategy keeps a time suffix of
    the history (all of it, or everything from a day boundary on), so these are exactly the
    newest ``training_clicks`` clicks."""
    order = np.argsort(pd.to_datetime(clicks["ts"], utc=True).to_numpy(), kind="stable")
    return clicks.iloc[np.sort(order[len(clicks) - result.training_clicks :])]


def incumbent_ndcg(teacher: tuple[SASRec, Vocabulary], vocabulary: Vocabulary, clicks: pd.DataFrame) -> float:
    """The teacher's NDCG@10 on the challenger's validation users, histories and targets (each
    user's last click in ``clicks``), so the curve compares like with like. An item the teacher
    never saw is dropped from a history and is a miss as a target."""
    model, theirs = teacher
    histories, targets = split_last_item(user_sequences(clicks, vocabulary))
    if not targets:
        return math.nan

    def recode(indices: np.ndarray) -> np.ndarray:
        return theirs.encode(vocabulary.decode(indices))

    their_histories, their_targets = {}, {}
    for user, target in targets.items():
        history = recode(histories[user])
        their_histories[user] = history[history > 0]
        their_targets[user] = int(recode(np.array([target]))[0])
    return validation_ndcg(model, their_histories, their_targets)["val_ndcg_at_10"]


def plot_curve(result: CatchupResult, incumbent_ndcg: float, incumbent_fit_s: float, path: Path) -> Path:
    """Validation NDCG@10 per epoch against the challenger's cumulative CPU-seconds."""
    epochs = [int(h["epoch"]) for h in result.history]
    spent = [result.compute.cpu_s * e / max(epochs) for e in epochs]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # here, not at import: definitions load this module

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(spent, [h["val_ndcg_at_10"] for h in result.history], marker="o", label=f"{result.config.strategy}")
    if not math.isnan(incumbent_ndcg):
        ax.axhline(incumbent_ndcg, color="black", linestyle="--", label="incumbent (same validation users)")
    if incumbent_fit_s > 0:
        ax.axvline(incumbent_fit_s, color="grey", linestyle=":", label="incumbent's recorded training seconds")
    ax.set_xlabel("challenger training CPU-seconds")
    ax.set_ylabel("validation NDCG@10")
    ax.set_title(f"catch-up: {result.config.arch} by {result.config.strategy}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def catch_up_and_register(
    settings: RelaySettings,
    config: CatchupConfig,
    split: TemporalSplit,
    work: Path,
    tags: dict[str, str] | None = None,
) -> CatchupRun:
    """Train the challenger by ``config`` on the clicks before the ranker window, with the
    incumbent as teacher where the strategy needs one; log, register and tag it."""
    registry.configure(settings)
    teacher_version = incumbent_version(settings)
    if config.needs_teacher and teacher_version is None:
        raise SASRecRefused(f"catchup: the {config.strategy!r} strategy needs an incumbent; none is registered yet")
    with lake.connect(settings) as con:
        clicks = read_events(con, end=split.ranker_start_ts, event_type="click")
    if clicks.empty:
        raise SASRecRefused("catchup: no clicks before the ranker window; run the daily pipeline first")
    categories = category_map(lake.read_catalog(settings))
    teacher = registry.load_sasrec(settings.sasrec_model_name, teacher_version) if teacher_version else None
    started = time.perf_counter()
    result = catch_up(clicks, categories, config, teacher=teacher)
    fit_s = time.perf_counter() - started

    level, recorded = math.nan, {"fit_s": 0.0, "sequences": 0.0, "versions": 0}
    if teacher is not None:
        level = incumbent_ndcg(teacher, result.vocabulary, strategy_clicks(clicks, result))
        recorded = recorded_compute(settings, teacher_version)
    work.mkdir(parents=True, exist_ok=True)
    curve = plot_curve(result, level, recorded["fit_s"], work / "catchup_curve.png")
    run = CatchupRun(
        version=0,
        run_id="",
        sha256="",
        warm_started_from=teacher_version if config.strategy in ("transfer", "combined") else None,
        train_clicks=result.training_clicks,
        sequences=result.compute.sequences,
        best_epoch=result.best_epoch,
        fit_s=fit_s,
        parameters=sum(p.numel() for p in result.model.parameters()),
        best_metrics=result.best_metrics,
        arch=config.arch,
        strategy=config.strategy,
        teacher_version=teacher_version,
        cpu_s=result.compute.cpu_s,
        flops=result.compute.flops,
        incumbent_val_ndcg_at_10=level,
        curve=str(curve),
    )
    with registry.tracked_run(run_name=f"catchup-{config.arch}-{config.strategy}"):
        registry.set_tags({"relay.stage": "embeddings", **(tags or {}), **run.lineage})
        registry.log_params({**asdict(config), **split.as_dict(), "train_clicks": len(clicks)})
        for record in result.history:
            registry.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
        registry.log_metrics(
            {
                **{f"best_{k}": v for k, v in result.best_metrics.items()},
                "best_epoch": result.best_epoch,
                "fit_s": fit_s,  # wall seconds, as every SASRec run records them (``recorded_compute`` reads it)
                "catchup_cpu_s": result.compute.cpu_s,
                "catchup_flops": result.compute.flops,
                "sequences_trained": result.compute.sequences,
                "incumbent_val_ndcg_at_10": level,
                "incumbent_recorded_fit_s": recorded["fit_s"],
            }
        )
        registry.log_artifact(curve)
        checkpoint = work / "catchup-final.pt"
        digest = save_checkpoint(checkpoint, result.model, result.vocabulary, {"catchup": asdict(config)})
        registered = registry.log_sasrec(checkpoint, settings.sasrec_model_name)
    registry.tag_version(settings.sasrec_model_name, registered.version, run.lineage)
    return replace(run, version=registered.version, run_id=registered.run_id, sha256=digest)
