"""Train SASRec with full-softmax cross-entropy, warmup, and early stopping on a validation split.

Runs three ways with one code path:
    python -m training.sasrec.train --clicks clicks.parquet --out model.pt
    torchrun --standalone --nproc_per_node=2 -m training.sasrec.train --clicks ... --out ...
    train_sasrec(...) in-process (the Dagster asset does this by default).
Validation is leave-one-out on the *training* sequences (each user's last training click); the
test window is never looked at here. With ``--state`` every epoch is checkpointed atomically and
``--resume`` continues from the last one with the same result as an uninterrupted run: each
epoch reseeds every random stream from (seed, epoch), so no RNG state has to survive a crash.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training.distributed import DistContext, init_distributed, shutdown_distributed
from training.metrics import ranking_metrics
from training.sasrec.checkpoint import load_training_state, parameters_sha256, save_checkpoint, save_training_state
from training.sasrec.data import (
    Vocabulary,
    left_pad,
    split_last_item,
    training_windows,
    user_sequences,
)
from training.sasrec.divergence import check_batch_loss, check_epoch_losses
from training.sasrec.model import SASRec, SASRecConfig


@dataclass(frozen=True)
class SASRecTrainConfig:
    """Hyperparameters of SASRec training (model shape lives in ``SASRecConfig``)."""

    max_len: int = 50
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    attn_dropout: float = 0.2
    ffn_mult: int = 4
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    patience: int = 4
    seed: int = 0
    exclude_seen: bool = False  # validate without already-seen items (catalogues without repeats)
    windows_per_user: int = 0  # 0: every window of every sequence; n: each user's n newest
    bucket_by_length: bool = False  # batches of similar-length windows (faster, but measured worse on ML-100K)
    compile: bool = False  # torch.compile the training step (falls back to eager without a C++ compiler)
    bf16: bool = False  # bfloat16 autocast where the device supports it natively (else fp32, and the result says so)

    def model_config(self, n_items: int) -> SASRecConfig:
        return SASRecConfig(
            n_items=n_items,
            max_len=self.max_len,
            dim=self.dim,
            n_blocks=self.n_blocks,
            n_heads=self.n_heads,
            dropout=self.dropout,
            attn_dropout=self.attn_dropout,
            ffn_mult=self.ffn_mult,
        )


BUCKET_BATCHES = 32  # batches sorted together by window length (see ``epoch_batches``)

TrainingLoss = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(model, inputs (B, L), next items (B, L), window indices (B,)) -> loss: a custom objective
such as distillation (``training.catchup.distill``). The default is the model's own cross-entropy."""


@dataclass
class TrainResult:
    model: SASRec
    vocabulary: Vocabulary
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    fit_s: float = 0.0
    n_sequences: int = 0
    sequences_seen: int = 0  # training windows processed, summed over epochs (compute spent)
    positions_seen: int = 0  # next-item targets trained on, summed over epochs
    validation_users: int = 0  # users scored after every epoch (inference compute)
    resumed_from_epoch: int = 0
    compiled: str = "eager"  # which path ran: "compiled", or "eager" with the reason compile was not used
    precision: str = "fp32"  # "bf16" when autocast ran, else fp32 (with the reason when bf16 was asked for)

    @property
    def best_metrics(self) -> dict[str, float]:
        return next((h for h in self.history if h["epoch"] == self.best_epoch), {})

    @property
    def sequences_per_s(self) -> float:
        return self.sequences_seen / self.fit_s if self.fit_s else 0.0

    @property
    def positions_per_s(self) -> float:
        return self.positions_seen / self.fit_s if self.fit_s else 0.0


def lr_at(step: int, config: SASRecTrainConfig, total_steps: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def top_k_items(
    model: SASRec, histories: list[np.ndarray], k: int, batch_size: int = 512, exclude_seen: bool = False
) -> np.ndarray:
    """Top-k model indices after each history, (len(histories), k); optionally never an item
    the history already holds (the usual protocol for catalogues without repeat consumption)."""
    model.eval()
    items = model.item_vectors()
    k = min(k, model.config.n_items)
    out = []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        batch = torch.as_tensor(np.stack([left_pad(h, model.config.max_len) for h in chunk])).to(items.device)
        scores = model.user_vectors(batch) @ items.T
        scores[:, 0] = float("-inf")
        if exclude_seen:
            rows = np.concatenate([np.full(len(h), i) for i, h in enumerate(chunk)]).astype(np.int64)
            cols = np.concatenate(chunk).astype(np.int64)
            scores[torch.as_tensor(rows, device=items.device), torch.as_tensor(cols, device=items.device)] = float(
                "-inf"
            )
        out.append(torch.topk(scores, k, dim=1).indices.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def validation_ndcg(
    model: SASRec,
    histories: dict[int, np.ndarray],
    targets: dict[int, int],
    k: int = 10,
    exclude_seen: bool = False,
) -> dict[str, float]:
    users = sorted(targets)
    if not users:
        return {"val_ndcg_at_10": 0.0, "val_hr_at_10": 0.0}
    ranked = top_k_items(model, [histories[u] for u in users], k, exclude_seen=exclude_seen)
    metrics = ranking_metrics(ranked, np.arange(len(users)), np.array([targets[u] for u in users]))
    return {"val_ndcg_at_10": metrics.ndcg, "val_hr_at_10": metrics.hit_rate}


def _cross_entropy(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, _: object) -> torch.Tensor:
    return model(inputs, targets)[1]


def epoch_batches(
    n: int, batch_size: int, generator: torch.Generator, context: DistContext, lengths: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """This rank's window indices of an epoch, in batches: one shuffled permutation shared by every
    rank (same generator), padded to a multiple of the world size and dealt out by stride, as
    ``DistributedSampler`` does. Indexing one tensor per batch keeps Python out of the data path.

    With ``lengths`` (real items per window), windows are bucketed: each run of ``BUCKET_BATCHES``
    batches is sorted by length before it is cut, and the batches are then shuffled, so a batch
    holds windows of similar length and the training step can drop their common left padding.
    """
    order = torch.randperm(n, generator=generator)
    if lengths is not None:
        span = batch_size * context.world_size * BUCKET_BATCHES
        order = (
            torch.cat([chunk[torch.argsort(lengths[chunk], stable=True)] for chunk in order.split(span)])
            if n
            else order
        )
    if context.world_size > 1:
        padded = math.ceil(n / context.world_size) * context.world_size
        order = torch.cat([order, order[: padded - n]])[context.rank :: context.world_size]
    batches = list(order.split(batch_size))
    if lengths is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def trim_padding(batch: torch.Tensor) -> torch.Tensor:
    """Drop the columns that are padding in every window of the batch, except the one before the
    longest window's first item: that padded input's target is the first item, which the untrimmed
    batch trains on too (at least two columns kept). Padded keys are masked out of every real
    query and a padded query sees only itself, so the loss is unchanged."""
    longest = min(batch.size(1), max(2, int((batch != 0).sum(dim=1).max()) + 1))
    return batch[:, -longest:]


def bf16_support(device: str) -> tuple[bool, str]:
    """Whether bf16 autocast pays off on ``device``: CUDA with bf16, or a CPU with native bf16
    instructions (AVX512-BF16 / AMX); emulated bf16 on an AVX2 CPU is slower than fp32."""
    if device.startswith("cuda"):
        return (True, "bf16") if torch.cuda.is_bf16_supported() else (False, "fp32 (this GPU has no bf16)")
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return True, "bf16"
    return False, "fp32 (no native bf16 on this CPU)"


def compile_for_training(model: torch.nn.Module, enabled: bool) -> tuple[torch.nn.Module, str]:
    """The module the training step calls, and which path that is. ``torch.compile`` needs a C++
    compiler on CPU; without one training runs eagerly and the result says why."""
    if not enabled:
        return model, "eager"
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not compiler:
        return model, "eager (no C++ compiler for torch.compile)"
    return torch.compile(model), "compiled"


def _seed_epoch(seed: int, epoch: int) -> torch.Generator:
    """Every random stream of an epoch derives from (seed, epoch): resumable without RNG state."""
    torch.manual_seed(seed * 100_003 + epoch)
    np.random.seed((seed * 100_003 + epoch) % 2**32)
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def train_sasrec(
    clicks: pd.DataFrame,
    config: SASRecTrainConfig,
    vocabulary: Vocabulary | None = None,
    context: DistContext | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    state_path: Path | None = None,
    resume: bool = False,
    init: SASRec | None = None,
    windows: np.ndarray | None = None,
    loss_fn: TrainingLoss | None = None,
) -> TrainResult:
    """Train on click events (``user_id``, ``item_id``, ``ts``); keeps the best validation epoch.

    ``init`` warm-starts from a model whose vocabulary is ``vocabulary`` (see
    ``training.sasrec.warm``). ``state_path`` checkpoints every epoch; ``resume`` continues
    from it. ``windows`` replaces the windows cut from ``clicks`` (validation still uses each
    user's last click there); ``loss_fn`` replaces the cross-entropy objective.
    """
    context = context or DistContext()
    vocabulary = vocabulary or Vocabulary.from_items(clicks["item_id"].to_numpy())
    if len(vocabulary) == 0:
        raise ValueError("SASRec training got no items: the click log is empty")
    # A warm start keeps the given model's architecture; its vocabulary must be ``vocabulary``.
    model_config = init.config if init is not None else config.model_config(len(vocabulary))
    if model_config.n_items != len(vocabulary):
        raise ValueError(f"init model knows {model_config.n_items} items, the vocabulary {len(vocabulary)}")
    sequences = user_sequences(clicks, vocabulary)
    histories, targets = split_last_item(sequences)
    if windows is None:
        windows = training_windows(histories, model_config.max_len, config.windows_per_user)
    if len(windows) == 0:
        raise ValueError("SASRec training needs at least one user with two clicks")

    torch.manual_seed(config.seed)
    model = SASRec(model_config)
    if init is not None:
        model.load_state_dict(init.state_dict())
    model = model.to(context.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = TrainResult(
        model=model, vocabulary=vocabulary, best_epoch=0, n_sequences=len(windows), validation_users=len(targets)
    )
    best_score, best_state, stale, step, first_epoch = -1.0, None, 0, 0, 1
    if resume and state_path is not None and state_path.exists():
        state = load_training_state(state_path, model, optimizer)
        best_score, best_state, stale, step = state["best_score"], state["best_state"], state["stale"], state["step"]
        result.history, result.best_epoch = state["history"], state["best_epoch"]
        result.sequences_seen = state["sequences_seen"]
        result.positions_seen = state.get("positions_seen", 0)
        first_epoch = result.resumed_from_epoch = state["epoch"] + 1
        if state["stopped"]:
            first_epoch = config.epochs + 1  # the run had already stopped early; nothing left to do

    wrapped: torch.nn.Module = DistributedDataParallel(model) if context.is_distributed else model
    step_model, result.compiled = compile_for_training(wrapped, config.compile)
    use_bf16, result.precision = bf16_support(context.device) if config.bf16 else (False, "fp32")
    windows_t = torch.as_tensor(windows, dtype=torch.long)
    lengths = (windows_t != 0).sum(dim=1) if config.bucket_by_length else None
    per_step = config.batch_size * context.world_size
    total_steps = config.epochs * math.ceil(len(windows_t) / per_step)
    objective = loss_fn or _cross_entropy

    started = time.perf_counter()
    bar = tqdm(
        range(first_epoch, config.epochs + 1),
        desc="sasrec epochs",
        unit="epoch",
        disable=not (progress and context.is_main),
        initial=first_epoch - 1,
        total=config.epochs,
    )
    stopped = False
    for epoch in bar:
        generator = _seed_epoch(config.seed, epoch)
        wrapped.train()
        losses = []
        for batch_index in epoch_batches(len(windows_t), config.batch_size, generator, context, lengths):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config, total_steps)
            batch = trim_padding(windows_t[batch_index])
            inputs, next_items = batch[:, :-1].to(context.device), batch[:, 1:].to(context.device)
            try:
                with torch.autocast(torch.device(context.device).type, torch.bfloat16, enabled=use_bf16):
                    loss = objective(step_model, inputs, next_items, batch_index)
            except Exception as error:  # only a failed compilation falls back, and it says so
                if step_model is wrapped:
                    raise
                step_model, result.compiled = wrapped, f"eager (torch.compile failed: {type(error).__name__})"
                warnings.warn(f"torch.compile failed, training eagerly instead: {error}", stacklevel=2)
                loss = objective(step_model, inputs, next_items, batch_index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            check_batch_loss(losses[-1], epoch, step, losses[-2] if len(losses) > 1 else None)
            result.sequences_seen += len(batch_index) * context.world_size
            result.positions_seen += int((next_items > 0).sum()) * context.world_size
            step += 1
        record = {
            "epoch": float(epoch),
            "train_loss": float(np.mean(losses)),
            **validation_ndcg(model, histories, targets, exclude_seen=config.exclude_seen),
        }
        result.history.append(record)
        check_epoch_losses([r["train_loss"] for r in result.history])
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_ndcg=f"{record['val_ndcg_at_10']:.4f}")
        if on_epoch and context.is_main:
            on_epoch(record)
        if record["val_ndcg_at_10"] > best_score:
            best_score, stale, result.best_epoch = record["val_ndcg_at_10"], 0, epoch
            best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        else:
            stale += 1
            stopped = stale >= config.patience
        if state_path is not None and context.is_main:
            save_training_state(
                state_path,
                model,
                optimizer,
                vocabulary,
                {
                    "epoch": epoch,
                    "step": step,
                    "best_score": best_score,
                    "best_state": best_state,
                    "stale": stale,
                    "history": result.history,
                    "best_epoch": result.best_epoch,
                    "stopped": stopped,
                    "sequences_seen": result.sequences_seen,
                    "positions_seen": result.positions_seen,
                    "train_config": asdict(config),
                },
            )
        if stopped:
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
    parser.add_argument("--state", type=Path, default=None, help="per-epoch training state (for --resume)")
    parser.add_argument("--resume", action="store_true", help="continue from --state if it exists")
    parser.add_argument("--init", type=Path, default=None, help="warm-start from this checkpoint")
    for spec in fields(SASRecTrainConfig):
        if spec.type == "bool" or isinstance(spec.default, bool):
            parser.add_argument(
                f"--{spec.name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=spec.default
            )
        else:
            parser.add_argument(f"--{spec.name.replace('_', '-')}", type=type(spec.default), default=spec.default)
    args = parser.parse_args(argv)
    config = SASRecTrainConfig(**{spec.name: getattr(args, spec.name) for spec in fields(SASRecTrainConfig)})
    return args, config


def run(argv: list[str] | None = None, on_epoch: Callable[[dict[str, float]], None] | None = None) -> dict:
    """The entrypoint's body; returns the summary it writes (rank 0) next to the checkpoint."""
    args, config = _parse_args(argv)
    context = init_distributed()
    try:
        clicks = pd.read_parquet(args.clicks)
        vocabulary, init = None, None
        if args.init is not None:
            from training.sasrec.checkpoint import load_checkpoint
            from training.sasrec.warm import grow_vocabulary

            previous, previous_vocabulary, _ = load_checkpoint(args.init)
            init, vocabulary = grow_vocabulary(previous, previous_vocabulary, clicks["item_id"].to_numpy())
        result = train_sasrec(
            clicks,
            config,
            vocabulary=vocabulary,
            context=context,
            state_path=args.state,
            resume=args.resume,
            init=init,
            on_epoch=on_epoch,
        )
        summary = {
            "best_epoch": result.best_epoch,
            **result.best_metrics,
            "fit_s": result.fit_s,
            "world_size": context.world_size,
            "rank": context.rank,
            "resumed_from_epoch": result.resumed_from_epoch,
            "sequences_per_s": result.sequences_per_s,
            "parameters": sum(p.numel() for p in result.model.parameters()),
            "parameters_sha256": parameters_sha256(result.model),
            "n_sequences": result.n_sequences,
            "history": result.history,
        }
        # Every rank records its parameters' digest, so a test can prove DDP kept them identical.
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_name(f"{args.out.stem}.rank{context.rank}.sha256").write_text(summary["parameters_sha256"] + "\n")
        if context.is_main:
            summary["sha256"] = save_checkpoint(
                args.out, result.model, result.vocabulary, {"train_config": asdict(config)}
            )
            args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
            print(json.dumps(summary))
        return summary
    finally:
        shutdown_distributed(context)


def main(argv: list[str] | None = None) -> None:
    run(argv)


if __name__ == "__main__":
    main()


def config_flags(config: SASRecTrainConfig) -> list[str]:
    """Command-line flags that reproduce ``config`` (the inverse of the entrypoint's parser)."""
    flags = []
    for spec in fields(SASRecTrainConfig):
        value = getattr(config, spec.name)
        name = spec.name.replace("_", "-")
        flags += [f"--{name}" if value else f"--no-{name}"] if isinstance(value, bool) else [f"--{name}", str(value)]
    return flags
