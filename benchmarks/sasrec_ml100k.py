"""SASRec on MovieLens-100K, leave-one-out, against popularity (and RecTools' published figures).

    python benchmarks/sasrec_ml100k.py [--epochs 200] [--dim 64] ...

Downloads nothing but the RecBole wheel that carries the data (once, into the cache folder).
Prints a table, then one JSON line with ndcg_at_10, hr_at_10, pop_ndcg_at_10, fit_s, s_per_epoch,
peak_rss_mb, sequences_per_s and parameters.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import fields
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import get_settings
from ingest.importers.movielens import fetch_wheel, load
from training.sasrec.loo import evaluate_popularity, evaluate_sasrec, leave_one_out
from training.sasrec.train import SASRecTrainConfig, train_sasrec

# RecTools 0.19 SASRec on this machine kind, same protocol (from the issue that set the target).
RECTOOLS = {"ndcg_at_10": 0.087, "hr_at_10": 0.168, "fit_s": 174.0}
DEFAULTS = {
    "epochs": 200,
    "patience": 12,
    "dropout": 0.5,
    "attn_dropout": 0.5,
    "lr": 2e-3,
    "batch_size": 128,
    "warmup_steps": 100,
    "exclude_seen": True,
    "max_len": 50,
    "dim": 64,
    "n_blocks": 2,
    "n_heads": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for spec in fields(SASRecTrainConfig):
        default = DEFAULTS.get(spec.name, spec.default)
        kind = type(spec.default)
        if kind is bool:
            parser.add_argument(
                f"--{spec.name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=default
            )
        else:
            parser.add_argument(f"--{spec.name.replace('_', '-')}", type=kind, default=default)
    args = parser.parse_args()
    config = SASRecTrainConfig(**{spec.name: getattr(args, spec.name) for spec in fields(SASRecTrainConfig)})

    movielens = load(fetch_wheel(get_settings().root / "cache" / "wheels"))
    interactions = movielens.interactions.sort_values("file_order")
    interactions = interactions.assign(ts=pd.to_datetime(interactions["timestamp"], unit="s", utc=True))
    split = leave_one_out(interactions[["user_id", "item_id", "ts"]])

    began = time.perf_counter()
    result = train_sasrec(split.train, config)
    fit_s = time.perf_counter() - began
    sasrec = evaluate_sasrec(result.model, result.vocabulary, split)
    popularity = evaluate_popularity(split)
    epochs = len(result.history)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parameters = sum(p.numel() for p in result.model.parameters())

    print(
        f"\nMovieLens-100K leave-one-out: {split.test['user_id'].nunique()} users, {len(result.vocabulary)} items, "
        f"{len(split.train):,} training interactions; SASRec {parameters:,} parameters, {epochs} epochs "
        f"(best {result.best_epoch}), {result.sequences_per_s:,.0f} sequences/s on CPU\n"
    )
    print(f"{'model':<24} {'NDCG@10':>16} {'HR@10':>16} {'fit s':>8}")
    print(f"{'popularity':<24} {popularity.ndcg:>9.4f} ± {popularity.ndcg_se:.4f} {popularity.hit_rate:>16.4f} {'':>8}")
    rectools = f"{RECTOOLS['ndcg_at_10']:.3f}", f"{RECTOOLS['hr_at_10']:.3f}", f"{RECTOOLS['fit_s']:.0f}"
    print(f"{'RecTools 0.19 SASRec':<24} {rectools[0]:>16} {rectools[1]:>16} {rectools[2]:>8}")
    hr_se = (sasrec.hit_rate * (1 - sasrec.hit_rate) / max(sasrec.users - 1, 1)) ** 0.5
    ndcg, hr = f"{sasrec.ndcg:.4f} ± {sasrec.ndcg_se:.4f}", f"{sasrec.hit_rate:.4f} ± {hr_se:.4f}"
    print(f"{'Relay SASRec':<24} {ndcg:>16} {hr:>16} {fit_s:>8.1f}")
    print(
        json.dumps(
            {
                "ndcg_at_10": round(sasrec.ndcg, 4),
                "ndcg_at_10_se": round(sasrec.ndcg_se, 4),
                "hr_at_10": round(sasrec.hit_rate, 4),
                "hr_at_10_se": round(hr_se, 4),
                "pop_ndcg_at_10": round(popularity.ndcg, 4),
                "pop_hr_at_10": round(popularity.hit_rate, 4),
                "fit_s": round(fit_s, 1),
                "s_per_epoch": round(fit_s / epochs, 2),
                "epochs": epochs,
                "best_epoch": result.best_epoch,
                "peak_rss_mb": round(peak_rss_mb),
                "sequences_per_s": round(result.sequences_per_s),
                "parameters": parameters,
            }
        )
    )


if __name__ == "__main__":
    main()
