"""Run a catch-up strategy into daily fine-tuning and trace quality against compute.

Each strategy trains on the history up to the catch-up day, pays the embedding backfill the
ranker needs (as-of-day user embeddings over the ranker's window, point in time), then lives
as the incumbent does: fine-tuned every day with the same recipe and scored on the next day.
The compute it needs to match the incumbent is read where the match is confirmed (the third
consecutive matching day), as a share of what the incumbent had spent by that day.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
from tqdm import tqdm

from experiments.catchup.history import History, IncumbentLedger
from experiments.catchup.holdout import DayHoldout, PairedDay, first_match, next_day_holdout, paired_day, score
from training.catchup.architectures import architecture
from training.catchup.compute import Compute, cpu_seconds, inference_flops
from training.catchup.strategies import CatchupConfig, catch_up, training_compute
from training.sasrec.continuous import finetune_day
from training.sasrec.data import Vocabulary
from training.sasrec.embed import user_embedding_table
from training.sasrec.model import SASRec

RANKER_DAYS = 14  # the ranker's training window the new embedding version is backfilled over


@dataclass(frozen=True)
class Backfill:
    rows: int
    seconds: float
    compute: Compute


def backfill_embeddings(model: SASRec, vocabulary: Vocabulary, clicks: pd.DataFrame, days: int) -> Backfill:
    """As-of-day user embeddings of the last ``days`` days (what the ranker retrains on)."""
    end = pd.to_datetime(clicks["ts"], utc=True).max().floor("D") + pd.Timedelta(days=1)
    began = time.perf_counter()
    with cpu_seconds() as spent:
        table = user_embedding_table(model, vocabulary, clicks, version=0, since=end - pd.Timedelta(days=days - 1))
    seconds = time.perf_counter() - began
    flops = inference_flops(model.config, len(table) * model.config.max_len)
    return Backfill(len(table), seconds, Compute(cpu_s=spent[0], flops=flops))


@dataclass(frozen=True)
class CurvePoint:
    day: int
    compute: Compute  # cumulative, through the end of ``day``
    paired: PairedDay


@dataclass
class StrategyCurve:
    strategy: str
    arch: str
    catchup: Compute  # the catch-up training alone
    backfill: Backfill
    epochs: int
    points: list[CurvePoint] = field(default_factory=list)

    @property
    def match_index(self) -> int | None:
        return first_match([point.paired for point in self.points])

    @property
    def mean_ndcg(self) -> float:
        return sum(p.paired.challenger_ndcg for p in self.points) / len(self.points)

    @property
    def mean_hr(self) -> float:
        return sum(p.paired.challenger_hr for p in self.points) / len(self.points)


class Evaluator:
    """The holdouts and the incumbent's per-user scores of every evaluation day, computed once."""

    def __init__(self, history: History, ledger: IncumbentLedger) -> None:
        self.history, self.ledger = history, ledger
        self.holdouts: dict[int, DayHoldout] = {}
        self.incumbent: dict[int, dict] = {}
        for day in history.config.evaluation_days:
            until = history.until(day)
            self.holdouts[day] = next_day_holdout(until, history.on(day + 1), day)
            model, vocabulary = ledger.load(day)
            self.incumbent[day] = score(model, vocabulary, until, self.holdouts[day])

    def compare(self, model: SASRec, vocabulary: Vocabulary, day: int) -> PairedDay:
        mine = score(model, vocabulary, self.history.until(day), self.holdouts[day])
        return paired_day(mine, self.incumbent[day], day)

    def incumbent_mean(self, metric: str = "ndcg") -> float:
        values = [scores[metric].mean() for scores in self.incumbent.values()]
        return float(sum(values) / len(values))


def run_strategy(
    history: History, ledger: IncumbentLedger, evaluator: Evaluator, config: CatchupConfig, progress: bool = True
) -> StrategyCurve:
    """Catch up at ``catchup_day``, backfill, then fine-tune daily through the evaluation days."""
    first = history.config.catchup_day
    teacher = ledger.load(first) if config.needs_teacher else None
    result = catch_up(history.until(first), history.categories(first), config, teacher=teacher, progress=progress)
    backfill = backfill_embeddings(result.model, result.vocabulary, history.until(first), RANKER_DAYS)
    curve = StrategyCurve(config.strategy, config.arch, result.compute, backfill, result.epochs)
    total = result.compute + backfill.compute
    model, vocabulary = result.model, result.vocabulary
    train = architecture(config.arch).train
    days = history.config.evaluation_days
    for day in tqdm(days, desc=f"{config.strategy}: daily", unit="day", disable=not progress):
        if day != first:
            with cpu_seconds() as spent:
                tuned = finetune_day(
                    model, vocabulary, history.until(day), history.day_name(day), train, history.categories(day)
                )
            total = total + training_compute(tuned, spent[0])
            model, vocabulary = tuned.model, tuned.vocabulary
        curve.points.append(CurvePoint(day, total, evaluator.compare(model, vocabulary, day)))
    return curve


def match_fraction(curve: StrategyCurve, ledger: IncumbentLedger) -> dict[str, float] | None:
    """Compute at the confirmed match as a share of the incumbent's by then (None: no match)."""
    index = curve.match_index
    if index is None:
        return None
    point = curve.points[index]
    return point.compute.fraction_of(ledger.at(point.day))
