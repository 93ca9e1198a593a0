"""Catch-up strategies: five ways to train a challenger to the incumbent's level, each a
training mode over the history the incumbent has seen (no Dagster here).

* ``scratch``: from scratch on the full replayed history (the baseline every team knows).
* ``recent``: from scratch on the last ``recent_days`` only.
* ``distill``: the full history replayed against the incumbent's soft targets, the last
  ``recent_days`` against the true next items (``training.catchup.distill``).
* ``transfer``: start from the incumbent's weights (``training.catchup.transfer``), then
  train on the last ``recent_days``.
* ``combined``: transfer, then distillation over the last ``replay_days`` with true next items
  on the last ``recent_days``.

Every strategy returns its compute (sequences, positions, CPU-seconds, FLOPs); a teacher's
forward passes are charged to the strategy that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from training.catchup.architectures import Architecture, architecture, build_model
from training.catchup.compute import Compute, cpu_seconds, inference_flops, training_flops
from training.catchup.distill import Distillation, windows_by_recency
from training.catchup.transfer import transfer_weights, transferred_tensors
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec
from training.sasrec.train import TrainResult, train_sasrec

STRATEGIES = ("scratch", "recent", "distill", "transfer", "combined")


@dataclass(frozen=True)
class CatchupConfig:
    """What to train and how. The defaults are the ones the catch-up benchmark measured."""

    arch: str = "sasrec_side"
    strategy: str = "combined"
    recent_days: int = 28  # ``recent``, ``transfer``: the window trained on; ``distill``: hard targets
    replay_days: int = 90  # ``combined``: how far back the teacher's soft targets reach
    temperature: float = 2.0
    replay_hard_weight: float = 0.0  # weight of the true next item on replayed windows (1 - it: teacher)
    transfer_lr: float = 1e-3
    transfer_epochs: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        architecture(self.arch)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown catch-up strategy {self.strategy!r}; choose one of {list(STRATEGIES)}")
        if self.recent_days < 1 or self.replay_days < self.recent_days:
            raise ValueError("CatchupConfig needs recent_days >= 1 and replay_days >= recent_days")
        if not 0.0 <= self.replay_hard_weight <= 1.0:
            raise ValueError("CatchupConfig.replay_hard_weight must be in [0, 1]")

    @property
    def needs_teacher(self) -> bool:
        return self.strategy in ("distill", "transfer", "combined")


@dataclass(frozen=True)
class CatchupResult:
    model: SASRec
    vocabulary: Vocabulary
    config: CatchupConfig
    compute: Compute
    best_epoch: int
    epochs: int
    best_metrics: dict[str, float]
    training_clicks: int
    transferred: tuple[str, ...] = ()
    teacher_positions: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def training_compute(result: TrainResult, extra_cpu_s: float = 0.0) -> Compute:
    """What ``train_sasrec`` spent: its windows and targets, and FLOPs of training plus the
    per-epoch validation passes (every validation user's full window)."""
    config = result.model.config
    flops = training_flops(config, result.positions_seen, slots=result.sequences_seen * config.max_len)
    flops += inference_flops(config, len(result.history) * result.validation_users * config.max_len)
    return Compute(result.sequences_seen, result.positions_seen, extra_cpu_s, flops)


def challenger_vocabulary(arch: Architecture, clicks: pd.DataFrame, categories: Mapping[int, int]) -> Vocabulary:
    """Clicked items; with side features also every published item (known through its category)."""
    items = clicks["item_id"].to_numpy()
    if arch.side_features:
        items = np.concatenate([items, np.fromiter(categories, dtype=np.int64)])
    return Vocabulary.from_items(items)


def catch_up(
    clicks: pd.DataFrame,
    categories: Mapping[int, int],
    config: CatchupConfig,
    teacher: tuple[SASRec, Vocabulary] | None = None,
    progress: bool = False,
) -> CatchupResult:
    """Train a challenger on ``clicks`` (the full history up to the catch-up day) by ``config``.

    ``categories`` is the catalogue (item_id -> category) as of the last day; ``teacher`` the
    incumbent (its model and vocabulary), required by distillation and transfer.
    """
    if clicks.empty:
        raise ValueError("catch-up got no clicks: the history is empty")
    if config.needs_teacher and teacher is None:
        raise ValueError(f"the {config.strategy!r} strategy needs the incumbent as teacher")
    arch = architecture(config.arch)
    stamps = pd.to_datetime(clicks["ts"], utc=True)
    end = stamps.max().floor("D") + pd.Timedelta(days=1)
    recent_cut = end - pd.Timedelta(days=config.recent_days)
    replay_cut = end - pd.Timedelta(days=config.replay_days)
    vocabulary = challenger_vocabulary(arch, clicks, categories)
    train = replace(arch.train, seed=config.seed)
    windows, loss_fn, distillation, init = None, None, None, None
    transferred: tuple[str, ...] = ()

    with cpu_seconds() as spent:
        if config.strategy in ("transfer", "combined"):
            init = transfer_weights(teacher[0], teacher[1], arch, vocabulary, categories, seed=config.seed)
            transferred = tuple(transferred_tensors(teacher[0], init))
            train = replace(train, lr=config.transfer_lr, epochs=config.transfer_epochs, warmup_steps=10, patience=2)
        else:
            init = build_model(arch, vocabulary, categories, seed=config.seed)
        if config.strategy in ("recent", "transfer"):
            data = clicks[stamps >= recent_cut]
        elif config.strategy == "combined":
            data = clicks[stamps >= replay_cut]
        else:
            data = clicks
        if config.strategy in ("distill", "combined"):
            windows, recent = windows_by_recency(data, vocabulary, init.config.max_len, recent_cut)
            hard = np.where(recent, 1.0, config.replay_hard_weight)
            distillation = Distillation(teacher[0], teacher[1], vocabulary, hard, config.temperature)
            loss_fn = distillation
        result = train_sasrec(
            data, train, vocabulary=vocabulary, init=init, windows=windows, loss_fn=loss_fn, progress=progress
        )
    compute = training_compute(result, spent[0])
    teacher_positions = 0
    if distillation is not None:
        teacher_positions = distillation.teacher_positions
        compute = compute + Compute(flops=inference_flops(teacher[0].config, distillation.teacher_slots))
    return CatchupResult(
        model=result.model,
        vocabulary=result.vocabulary,
        config=config,
        compute=compute,
        best_epoch=result.best_epoch,
        epochs=len(result.history),
        best_metrics={k: v for k, v in result.best_metrics.items() if k != "epoch"},
        training_clicks=len(data),
        transferred=transferred,
        teacher_positions=teacher_positions,
        history=result.history,
    )
