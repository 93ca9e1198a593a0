"""The rolling next-day holdout and the "matches the incumbent" rule.

A model as it stands at the end of day D is scored on day D + 1: for every user who clicks on
D + 1 and has a history, NDCG@10 / HR@10 of the full catalogue ranking after their clicks up to
D, against every item they click on D + 1. Challenger and incumbent are scored on the same
users, so their difference gets a paired (user-resampled) bootstrap interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.comparison import paired_bootstrap
from training.metrics import per_user_metrics
from training.sasrec.data import Vocabulary, user_sequences
from training.sasrec.model import SASRec
from training.sasrec.train import top_k_items

MATCH_MARGIN = -0.005  # the CI's lower bound of (challenger - incumbent) NDCG@10 must be at least this
MATCH_DAYS = 3  # on this many consecutive daily evaluations


@dataclass(frozen=True)
class DayHoldout:
    day: int  # the model's last training day; the targets are the next day's clicks
    users: np.ndarray
    targets: list[np.ndarray]  # item ids each user clicks the next day


def next_day_holdout(history: pd.DataFrame, tomorrow: pd.DataFrame, day: int) -> DayHoldout:
    known = set(history["user_id"].unique())
    groups = tomorrow[tomorrow["user_id"].isin(known)].groupby("user_id")["item_id"]
    users = np.array(sorted(groups.groups), dtype=np.int64)
    return DayHoldout(day, users, [np.unique(groups.get_group(u).to_numpy()) for u in users])


def score(model: SASRec, vocabulary: Vocabulary, history: pd.DataFrame, holdout: DayHoldout) -> dict[str, np.ndarray]:
    """Per-user NDCG@10 and hit of ``model`` on the holdout (items it does not know never hit)."""
    sequences = user_sequences(history, vocabulary)
    empty = np.zeros(0, dtype=np.int64)
    ranked = top_k_items(model, [sequences.get(int(u), empty) for u in holdout.users], 10)
    rows = np.concatenate([np.full(len(t), i) for i, t in enumerate(holdout.targets)]).astype(np.int64)
    items = vocabulary.encode(np.concatenate(holdout.targets))
    metrics = per_user_metrics(ranked, rows, items)
    return {"ndcg": metrics["ndcg"], "hit": metrics["hit"]}


@dataclass(frozen=True)
class PairedDay:
    day: int
    challenger_ndcg: float
    incumbent_ndcg: float
    challenger_hr: float
    incumbent_hr: float
    low: float
    high: float
    users: int

    @property
    def matches(self) -> bool:
        return self.low >= MATCH_MARGIN


def paired_day(mine: dict[str, np.ndarray], theirs: dict[str, np.ndarray], day: int, seed: int = 0) -> PairedDay:
    a, b = mine["ndcg"], theirs["ndcg"]
    low, high = paired_bootstrap(lambda s: float(a[s].mean() - b[s].mean()), len(a), resamples=1000, seed=seed + day)
    return PairedDay(
        day, float(a.mean()), float(b.mean()), float(mine["hit"].mean()), float(theirs["hit"].mean()), low, high, len(a)
    )


def first_match(days: list[PairedDay]) -> int | None:
    """Index of the day that completes the first run of ``MATCH_DAYS`` matching days, or None."""
    run = 0
    for index, day in enumerate(days):
        run = run + 1 if day.matches else 0
        if run == MATCH_DAYS:
            return index
    return None
