"""Catch-up: a new architecture against a year-long, daily fine-tuned incumbent, per unit of compute.

    python benchmarks/catchup.py [--quick] [--strategies scratch,recent,distill,transfer,combined]

A drifting world that publishes new items every day runs ``--days`` days. The incumbent
(today's SASRec) is trained once on the first ``--base-days`` and fine-tuned every day after
with ``sasrec_daily``'s frozen recipe; its compute is measured day by day and cached with its
checkpoints under the data directory (a rerun reuses them and still counts them in full). On
the catch-up day each strategy trains the challenger architecture, pays the embedding backfill
of the ranker's window, then is fine-tuned daily like the incumbent and scored on every next
day. A strategy matches the incumbent when the lower bound of the paired-bootstrap 95% CI of
(challenger - incumbent) NDCG@10 is at least -0.005 on three consecutive days; its compute at
the third day, as a share of the incumbent's cumulative compute by then, is its fraction.

Prints the world, a table and the curve's path, then one JSON line with incumbent_ndcg,
ceiling_ndcg, best_strategy, compute_to_match_fraction (the larger of the CPU-seconds and FLOPs
shares) and scratch_fraction, the baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import get_settings
from experiments.catchup.curve import Evaluator, StrategyCurve, match_fraction, run_strategy
from experiments.catchup.history import HistoryConfig, IncumbentLedger, generate_history, replay_incumbent
from experiments.catchup.holdout import MATCH_MARGIN
from training.catchup.strategies import STRATEGIES, CatchupConfig

QUICK = HistoryConfig(n_users=300, n_items=250, n_days=60, new_items_per_day=2, base_days=10, eval_days=5)


def headline(fraction: dict[str, float] | None) -> float:
    """The conservative share: the larger of CPU-seconds and FLOPs (sequences hide a wider model)."""
    return max(fraction["cpu_s"], fraction["flops"]) if fraction else math.nan


def plot(curves: list[StrategyCurve], ledger: IncumbentLedger, evaluator: Evaluator, path: Path) -> Path:
    """Left: (challenger - incumbent) NDCG@10 per day with its paired 95% CI, against cumulative
    compute; a day matches when its CI's lower bound clears the margin. Right: raw HR@10 gaps.
    Each day has its own holdout, so differences read better than levels that jump day to day."""
    days = evaluator.history.config.evaluation_days
    final = ledger.at(days[-1]).cpu_s
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for offset, curve in enumerate(curves):
        x = [p.compute.cpu_s / final * (1 + 0.01 * offset) for p in curve.points]
        gap = [p.paired.challenger_ndcg - p.paired.incumbent_ndcg for p in curve.points]
        low = [g - p.paired.low for g, p in zip(gap, curve.points, strict=True)]
        high = [p.paired.high - g for g, p in zip(gap, curve.points, strict=True)]
        line = axes[0].errorbar(x, gap, yerr=[low, high], marker="o", capsize=2, label=curve.strategy)
        if curve.match_index is not None:
            axes[0].plot(
                x[curve.match_index], gap[curve.match_index], marker="*", markersize=16, color=line[0].get_color()
            )
        hr_gap = [p.paired.challenger_hr - p.paired.incumbent_hr for p in curve.points]
        axes[1].plot(x, hr_gap, marker="o", label=curve.strategy)
    axes[0].axhline(MATCH_MARGIN, color="red", linestyle="--", label=f"match margin ({MATCH_MARGIN})")
    for ax, name in zip(axes, ("NDCG@10", "HR@10"), strict=True):
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.axvline(1.0, color="grey", linestyle=":", label="incumbent's cumulative compute")
        ax.set_xscale("log")
        ax.set_xlabel("cumulative training CPU-seconds / incumbent's (log)")
        ax.set_ylabel(f"next-day {name}: challenger - incumbent")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    level = evaluator.incumbent_mean("ndcg")
    fig.suptitle(
        f"catch-up against the incumbent (mean next-day NDCG@10 {level:.4f}); a star marks a confirmed match "
        "(three consecutive days whose CI clears the margin)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a small world: {QUICK}")
    defaults = HistoryConfig()
    for name in ("n_users", "n_items", "n_days", "new_items_per_day", "base_days", "eval_days", "seed"):
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=int, default=None, help=f"default {getattr(defaults, name)}"
        )
    parser.add_argument("--arch", default="sasrec_side")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--recent-days", type=int, default=CatchupConfig.recent_days)
    parser.add_argument("--replay-days", type=int, default=CatchupConfig.replay_days)
    parser.add_argument("--replay-hard-weight", type=float, default=CatchupConfig.replay_hard_weight)
    parser.add_argument("--transfer-epochs", type=int, default=CatchupConfig.transfer_epochs)
    parser.add_argument("--transfer-lr", type=float, default=CatchupConfig.transfer_lr)
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: the data directory)")
    args = parser.parse_args()
    base = QUICK if args.quick else defaults
    overrides = {k: getattr(args, k) for k in asdict(base) if getattr(args, k, None) is not None}
    config = HistoryConfig(**{**asdict(base), **overrides})
    root = get_settings().root / "benchmarks" / "catchup"
    began = time.perf_counter()

    history = generate_history(config, root)
    ledger = replay_incumbent(history, root)
    evaluator = Evaluator(history, ledger)
    days = config.evaluation_days
    print(
        f"\nworld: {config.n_users} users, {config.n_items} items ({config.new_items_per_day} new a day), "
        f"{config.n_days} days, {len(history.clicks):,} clicks, seed {config.seed}; incumbent trained on days "
        f"0-{config.base_days - 1}, fine-tuned daily to day {days[-1]}; catch-up on day {config.catchup_day}, "
        f"{len(days)} next-day evaluations, {sum(len(h.users) for h in evaluator.holdouts.values()) / len(days):.0f} "
        "users a day\n",
        flush=True,
    )
    curves = []
    for strategy in args.strategies.split(","):
        strategy_config = CatchupConfig(
            arch=args.arch,
            strategy=strategy,
            recent_days=args.recent_days,
            replay_days=args.replay_days,
            replay_hard_weight=args.replay_hard_weight,
            transfer_epochs=args.transfer_epochs,
            transfer_lr=args.transfer_lr,
        )
        curves.append(run_strategy(history, ledger, evaluator, strategy_config))

    incumbent = ledger.at(days[-1])
    rows = []
    for curve in curves:
        fraction = match_fraction(curve, ledger)
        matched = curve.points[curve.match_index].day if curve.match_index is not None else None
        rows.append(
            {
                "strategy": curve.strategy,
                "epochs": curve.epochs,
                "catchup_cpu_s": curve.catchup.cpu_s,
                "backfill_s": curve.backfill.seconds,
                "ndcg": curve.mean_ndcg,
                "hr": curve.mean_hr,
                "matched_day": matched,
                "cpu_fraction": fraction["cpu_s"] if fraction else math.nan,
                "flops_fraction": fraction["flops"] if fraction else math.nan,
                "sequences_fraction": fraction["sequences"] if fraction else math.nan,
                "fraction": headline(fraction),
            }
        )
    print(
        f"{'strategy':<10} {'epochs':>6} {'catch-up CPU s':>14} {'backfill s':>10} {'NDCG@10':>8} {'HR@10':>7} "
        f"{'match day':>9} {'CPU share':>9} {'FLOP share':>10} {'seq share':>9}"
    )
    print(
        f"{'incumbent':<10} {'':>6} {incumbent.cpu_s:>14.1f} {'':>10} {evaluator.incumbent_mean('ndcg'):>8.4f} "
        f"{evaluator.incumbent_mean('hit'):>7.4f} {'':>9} {1.0:>9.3f} {1.0:>10.3f} {1.0:>9.3f}"
    )
    for row in rows:
        print(
            f"{row['strategy']:<10} {row['epochs']:>6} {row['catchup_cpu_s']:>14.1f} {row['backfill_s']:>10.2f} "
            f"{row['ndcg']:>8.4f} {row['hr']:>7.4f} {row['matched_day'] or '-'!s:>9} {row['cpu_fraction']:>9.3f} "
            f"{row['flops_fraction']:>10.3f} {row['sequences_fraction']:>9.3f}"
        )
    print("\nper day: NDCG@10 challenger - incumbent [95% CI]")
    for curve in curves:
        cells = [
            f"{p.paired.challenger_ndcg - p.paired.incumbent_ndcg:+.4f} [{p.paired.low:+.3f},{p.paired.high:+.3f}]"
            for p in curve.points
        ]
        print(f"  {curve.strategy:<10} " + "  ".join(cells))
    path = plot(curves, ledger, evaluator, args.out or root / f"catchup-{config.key()}.png")
    print(f"\ncurve: {path}")
    matched = [row for row in rows if not math.isnan(row["fraction"])]
    best = min(matched, key=lambda row: row["fraction"]) if matched else None
    scratch = next((row for row in rows if row["strategy"] == "scratch"), None)
    print(
        json.dumps(
            {
                "incumbent_ndcg": round(evaluator.incumbent_mean("ndcg"), 4),
                "incumbent_hr": round(evaluator.incumbent_mean("hit"), 4),
                "ceiling_ndcg": round(scratch["ndcg"], 4) if scratch else None,
                "best_strategy": best["strategy"] if best else None,
                "compute_to_match_fraction": round(best["fraction"], 4) if best else None,
                "scratch_fraction": round(scratch["fraction"], 4)
                if scratch and not math.isnan(scratch["fraction"])
                else None,
                "incumbent_cpu_s": round(incumbent.cpu_s, 1),
                "incumbent_flops": incumbent.flops,
                "incumbent_sequences": incumbent.sequences,
                "backfill_s": {row["strategy"]: round(row["backfill_s"], 2) for row in rows},
                "users": config.n_users,
                "items": config.n_items,
                "days": config.n_days,
                "seconds": round(time.perf_counter() - began, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
