"""Train SASRec with full-softmax cross-entropy, warmup, and early stopping on a validation split.

Runs three ways with one code path:
    python -m training.sasrec.train --clicks clicks.parquet --out model.pt
    torchrun --standalone --nproc_per_node=2 -m training.sasrec.train --clicks ... --out ...
    train_sasrec(...) in-process (the Dagster asset does this).
Validation is leave-one-out on the *training* sequences (each user's last training click); the
test window is never looked at here.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from training.distributed import DistContext, init_distributed, shutdown_distributed
from training.metrics import ranking_metrics
from training.sasrec.checkpoint import save_checkpoint
from training.sasrec.data import (
    NextItemDataset,
    Vocabulary,
    left_pad,
    split_last_item,
    training_windows,
    user_sequences,
)
from training.sasrec.model import SASRec, SASRecConfig


@dataclass(frozen=True)
class SASRecTrainConfig:
    """Hyperparameters of SASRec training (model shape lives in ``SASRecConfig``)."""

    max_len: int = 50
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    patience: int = 4
    seed: int = 0

    def model_config(self, n_items: int) -> SASRecConfig:
        return SASRecConfig(
            n_items=n_items,
            max_len=self.max_len,
            dim=self.dim,
            n_blocks=self.n_blocks,
            n_heads=self.n_heads,
            dropout=self.dropout,
        )


@dataclass
class TrainResult:
    model: SASRec
    vocabulary: Vocabulary
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    fit_s: float = 0.0
    n_sequences: int = 0

    @property
    def best_metrics(self) -> dict[str, float]:
        return next((h for h in self.history if h["epoch"] == self.best_epoch), {})


def lr_at(step: int, config: SASRecTrainConfig, total_steps: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def top_k_items(model: SASRec, histories: list[np.ndarray], k: int, batch_size: int = 512) -> np.ndarray:
    """Top-k model indices after each history, (len(histories), k)."""
    model.eval()
    items = model.item_vectors()
    k = min(k, model.config.n_items)
    out = []
    for start in range(0, len(histories), batch_size):
        batch = torch.as_tensor(
            np.stack([left_pad(h, model.config.max_len) for h in histories[start : start + batch_size]])
        )
        scores = model.user_vectors(batch) @ items.T
        scores[:, 0] = float("-inf")
        out.append(torch.topk(scores, k, dim=1).indices.numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def validation_ndcg(
    model: SASRec, histories: dict[int, np.ndarray], targets: dict[int, int], k: int = 10
) -> dict[str, float]:
    users = sorted(targets)
    if not users:
        return {"val_ndcg_at_10": 0.0, "val_hr_at_10": 0.0}
    ranked = top_k_items(model, [histories[u] for u in users], k)
    metrics = ranking_metrics(ranked, np.arange(len(users)), np.array([targets[u] for u in users]))
    return {"val_ndcg_at_10": metrics.ndcg, "val_hr_at_10": metrics.hit_rate}


def train_sasrec(
    clicks: pd.DataFrame,
    config: SASRecTrainConfig,
    vocabulary: Vocabulary | None = None,
    context: DistContext | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train on click events (``user_id``, ``item_id``, ``ts``); keeps the best validation epoch."""
    context = context or DistContext()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    vocabulary = vocabulary or Vocabulary.from_items(clicks["item_id"].to_numpy())
    if len(vocabulary) == 0:
        raise ValueError("SASRec training got no items: the click log is empty")
    sequences = user_sequences(clicks, vocabulary)
    histories, targets = split_last_item(sequences)
    windows = training_windows(histories, config.max_len)
    if len(windows) == 0:
        raise ValueError("SASRec training needs at least one user with two clicks")

    model = SASRec(config.model_config(len(vocabulary))).to(context.device)
    wrapped: torch.nn.Module = DistributedDataParallel(model) if context.is_distributed else model
    dataset = NextItemDataset(windows)
    sampler = DistributedSampler(dataset, shuffle=True, seed=config.seed) if context.is_distributed else None
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(
        dataset, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler, generator=generator
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * len(loader)

    result = TrainResult(model=model, vocabulary=vocabulary, best_epoch=0, n_sequences=len(windows))
    best_score, best_state, stale, step = -1.0, None, 0, 0
    started = time.perf_counter()
    bar = tqdm(
        range(1, config.epochs + 1), desc="sasrec epochs", unit="epoch", disable=not (progress and context.is_main)
    )
    for epoch in bar:
        if sampler is not None:
            sampler.set_epoch(epoch)
        wrapped.train()
        losses = []
        for inputs, next_items in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config, total_steps)
            _, loss = wrapped(inputs.to(context.device), next_items.to(context.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
        record = {
            "epoch": float(epoch),
            "train_loss": float(np.mean(losses)),
            **validation_ndcg(model, histories, targets),
        }
        result.history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_ndcg=f"{record['val_ndcg_at_10']:.4f}")
        if on_epoch and context.is_main:
            on_epoch(record)
        if record["val_ndcg_at_10"] > best_score:
            best_score, stale, result.best_epoch = record["val_ndcg_at_10"], 0, epoch
            best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.fit_s = time.perf_counter() - started
    return result


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, SASRecTrainConfig]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=Path, required=True, help="parquet with user_id, item_id, ts")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint path (written by rank 0)")
    for spec in fields(SASRecTrainConfig):
        parser.add_argument(f"--{spec.name.replace('_', '-')}", type=type(spec.default), default=spec.default)
    args = parser.parse_args(argv)
    config = SASRecTrainConfig(**{spec.name: getattr(args, spec.name) for spec in fields(SASRecTrainConfig)})
    return args, config


def main(argv: list[str] | None = None) -> None:
    args, config = _parse_args(argv)
    context = init_distributed()
    try:
        clicks = pd.read_parquet(args.clicks)
        result = train_sasrec(clicks, config, context=context)
        if context.is_main:
            digest = save_checkpoint(args.out, result.model, result.vocabulary, {"train_config": asdict(config)})
            summary = {
                "best_epoch": result.best_epoch,
                **result.best_metrics,
                "fit_s": result.fit_s,
                "world_size": context.world_size,
                "sha256": digest,
            }
            args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
            print(json.dumps(summary))
    finally:
        shutdown_distributed(context)


if __name__ == "__main__":
    main()
