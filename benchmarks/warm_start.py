"""Continuous training: warm-started daily fine-tunes against daily retrains from scratch.

    python benchmarks/warm_start.py [--base-days 21] [--days 14] [--users 600] [--items 300]

A simulated world runs ``base-days`` days, on which one model is trained from scratch. Then,
each of the next ``days`` days, the warm model is fine-tuned on that day's events while a cold
model is retrained from scratch on everything so far. Both are scored the next morning on each
active user's first click of the day (NDCG@10 / HR@10 over the full catalogue). Training compute
is counted in training sequences processed. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.generate import generate_day
from simulator.world import WorldConfig, build_world
from training.metrics import ranking_metrics
from training.sasrec.continuous import finetune_day
from training.sasrec.data import user_sequences
from training.sasrec.train import SASRecTrainConfig, top_k_items, train_sasrec

CONFIG = SASRecTrainConfig(epochs=30, patience=4, dim=64, dropout=0.2, attn_dropout=0.2, lr=2e-3)


def next_day_quality(model, vocabulary, history: pd.DataFrame, tomorrow: pd.DataFrame) -> tuple[float, float]:
    first = tomorrow.sort_values("ts", kind="stable").drop_duplicates("user_id")
    sequences = user_sequences(history, vocabulary)
    first = first[first["user_id"].isin(sequences) & (vocabulary.encode(first["item_id"].to_numpy()) > 0)]
    ranked = top_k_items(model, [sequences[int(u)] for u in first["user_id"]], 10)
    metrics = ranking_metrics(ranked, np.arange(len(first)), vocabulary.encode(first["item_id"].to_numpy()))
    return metrics.ndcg, metrics.hit_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-days", type=int, default=21)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--items", type=int, default=300)
    args = parser.parse_args()
    world = build_world(
        WorldConfig(
            n_users=args.users,
            n_items=args.items,
            n_days=args.base_days + args.days + 1,
            sessions_per_user_day=0.8,
            seed=5,
        )
    )
    logs = [generate_day(world, d) for d in range(args.base_days + args.days + 1)]
    clicks = [frame.loc[frame["event_type"] == "click", ["user_id", "item_id", "ts"]] for frame in logs]

    base = pd.concat(clicks[: args.base_days], ignore_index=True)
    began = time.perf_counter()
    warm = train_sasrec(base, CONFIG, progress=False)
    base_s = time.perf_counter() - began
    warm_model, warm_vocabulary = warm.model, warm.vocabulary
    totals = {
        "warm_sequences": warm.sequences_seen,
        "scratch_sequences": warm.sequences_seen,
        "warm_s": base_s,
        "scratch_s": base_s,
    }
    rows = []
    for offset in range(args.days):
        day_index = args.base_days + offset
        day = (world.config.start + timedelta(days=day_index)).isoformat()
        history = pd.concat(clicks[: day_index + 1], ignore_index=True)
        tomorrow = clicks[day_index + 1]

        began = time.perf_counter()
        tuned = finetune_day(warm_model, warm_vocabulary, history, day, CONFIG)
        totals["warm_s"] += time.perf_counter() - began
        totals["warm_sequences"] += tuned.sequences_seen
        warm_model, warm_vocabulary = tuned.model, tuned.vocabulary

        began = time.perf_counter()
        cold = train_sasrec(history, CONFIG, progress=False)
        totals["scratch_s"] += time.perf_counter() - began
        totals["scratch_sequences"] += cold.sequences_seen

        warm_ndcg, warm_hr = next_day_quality(warm_model, warm_vocabulary, history, tomorrow)
        cold_ndcg, cold_hr = next_day_quality(cold.model, cold.vocabulary, history, tomorrow)
        rows.append(
            {
                "day": day,
                "warm_ndcg": warm_ndcg,
                "scratch_ndcg": cold_ndcg,
                "warm_hr": warm_hr,
                "scratch_hr": cold_hr,
                "warm_cumulative_sequences": totals["warm_sequences"],
                "scratch_cumulative_sequences": totals["scratch_sequences"],
            }
        )

    table = pd.DataFrame(rows)
    print(
        f"\nwarm start vs scratch: {args.days} days after a {args.base_days}-day base, {args.users} users, "
        f"{args.items} items; quality on the next day's first click per active user\n"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    figures = {
        "days": args.days,
        "warm_mean_ndcg_at_10": round(float(table["warm_ndcg"].mean()), 4),
        "scratch_mean_ndcg_at_10": round(float(table["scratch_ndcg"].mean()), 4),
        "warm_mean_hr_at_10": round(float(table["warm_hr"].mean()), 4),
        "scratch_mean_hr_at_10": round(float(table["scratch_hr"].mean()), 4),
        "warm_sequences": int(totals["warm_sequences"]),
        "scratch_sequences": int(totals["scratch_sequences"]),
        "compute_ratio": round(totals["scratch_sequences"] / totals["warm_sequences"], 2),
        "warm_train_s": round(totals["warm_s"], 1),
        "scratch_train_s": round(totals["scratch_s"], 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
