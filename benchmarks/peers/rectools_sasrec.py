"""RecTools 0.19 SASRec, fitted and asked for top-k: runs INSIDE the peer venv (see rectools_env.py).

    python rectools_sasrec.py --train train.parquet --users users.parquet --out result.json [--epochs 40] ...

Imports only the standard library, numpy, pandas, torch, pytorch_lightning and rectools (never Relay), so it
measures RecTools as its users would run it. Only ``fit`` is timed; progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning
import rectools
import torch
from pytorch_lightning import Callback, Trainer
from rectools import Columns
from rectools.dataset import Dataset
from rectools.models import SASRecModel


def say(message: str) -> None:
    print(f"[rectools] {message}", file=sys.stderr, flush=True)


class EpochLine(Callback):
    """One stderr line per epoch, since progress bars are off and a 40-epoch fit takes minutes."""

    def __init__(self) -> None:
        self.began = time.perf_counter()

    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        self.began = time.perf_counter()  # RecTools deep-copies the trainer at fit; time from the real start

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        loss = trainer.callback_metrics.get("train_loss")
        shown = f", train loss {float(loss):.4f}" if loss is not None else ""
        elapsed = time.perf_counter() - self.began
        say(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} done at {elapsed:.1f} s{shown}")


def make_trainer(epochs: int) -> Trainer:
    """RecTools' default trainer (base.py ``_init_trainer``, verbose=0, deterministic=True) on CPU, plus epoch lines.

    Passed as ``get_trainer_func`` (which makes RecTools ignore ``epochs``/``deterministic``/``verbose``), so it
    repeats them: exactly ``epochs`` epochs, no progress bar, summary, logger or checkpoints.
    """
    return Trainer(
        max_epochs=epochs,
        min_epochs=epochs,
        deterministic=True,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
        devices=1,
        callbacks=[EpochLine()],
    )


# Warnings every run prints that say nothing about this run (RecTools 0.19 / Lightning 2.5 internals, and the
# expected skip of the categorical-feature item net on a dataset without item features). Cold-user warnings stay.
NOISE = (
    r".*does not have many workers.*",
    r".*number of training batches.*smaller than the logging interval.*",
    r".*defined a `validation_step` but have no `val_dataloader`.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r".*Ignoring `CatFeaturesItemNet` block.*",
    r".*Pydantic serializer warnings.*",
    r".*unique with argument that is not not a Series.*",
)


def quiet_lightning() -> None:
    """Lightning's banner lines ("GPU available: False ...") and the warnings in NOISE would bury the epoch lines."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in NOISE:
        warnings.filterwarnings("ignore", message=pattern)


def interactions_frame(train: pd.DataFrame) -> pd.DataFrame:
    """RecTools' column names; weight 1; naive UTC datetimes (it casts to datetime64[ns], which rejects tz-aware)."""
    ts = pd.to_datetime(train["ts"], utc=True).dt.tz_convert(None)
    return pd.DataFrame(
        {
            Columns.User: train["user_id"].to_numpy(),
            Columns.Item: train["item_id"].to_numpy(),
            Columns.Weight: 1.0,
            Columns.Datetime: ts.to_numpy(),
        }
    )  # row order kept: RecTools sorts by datetime with a stable sort, so input order breaks ties


def plain(value: Any) -> Any:
    """numpy scalars (item ids of numpy dtypes) as plain JSON numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="parquet: user_id, item_id, ts (UTC)")
    parser.add_argument("--users", type=Path, required=True, help="parquet: user_id to recommend for")
    parser.add_argument("--out", type=Path, required=True, help="JSON result")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    # RecTools' own defaults; exposed so a caller can match another model's settings.
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 keeps torch's default")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)

    quiet_lightning()
    pytorch_lightning.seed_everything(args.seed, workers=True, verbose=False)
    interactions = interactions_frame(pd.read_parquet(args.train))
    users = pd.read_parquet(args.users)["user_id"].to_numpy()
    dataset = Dataset.construct(interactions)
    model = SASRecModel(
        n_factors=args.dim,
        n_blocks=args.blocks,
        n_heads=args.heads,
        dropout_rate=args.dropout,
        lr=args.lr,
        session_max_len=args.max_len,
        batch_size=args.batch_size,
        epochs=args.epochs,
        deterministic=True,
        recommend_torch_device="cpu",
        get_trainer_func=make_trainer,
        get_trainer_func_kwargs={"epochs": args.epochs},
    )
    say(
        f"fitting SASRec on {len(interactions):,} interactions, {interactions[Columns.User].nunique():,} users, "
        f"{interactions[Columns.Item].nunique():,} items; {args.epochs} epochs, torch threads {torch.get_num_threads()}"
    )
    began = time.perf_counter()
    model.fit(dataset)
    fit_s = time.perf_counter() - began
    epochs = model.fit_trainer.current_epoch if model.fit_trainer is not None else args.epochs

    began = time.perf_counter()
    recos = model.recommend(users=users, dataset=dataset, k=args.k, filter_viewed=True, on_unsupported_targets="warn")
    recommend_s = time.perf_counter() - began
    recos = recos.sort_values([Columns.User, Columns.Rank], kind="stable")
    by_user = {str(user): items.tolist() for user, items in recos.groupby(Columns.User, sort=False)[Columns.Item]}
    ranked = {str(user): by_user.get(str(user), []) for user in users}
    say(f"fit {fit_s:.1f} s ({fit_s / max(epochs, 1):.2f} s/epoch), recommend {recommend_s:.2f} s")

    result = {
        "fit_s": fit_s,
        "epochs": int(epochs),
        "s_per_epoch": fit_s / max(epochs, 1),
        "recommend_s": recommend_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_version": torch.__version__,
        "rectools_version": rectools.__version__,
        "recos": ranked,
    }
    args.out.write_text(json.dumps(result, default=plain))


if __name__ == "__main__":
    main()
