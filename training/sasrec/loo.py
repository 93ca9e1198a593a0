"""Leave-one-out evaluation, the protocol published SASRec results use.

Each user's last interaction by time (ties broken by input order) is the test item; the model
sees everything before it. All items are ranked, already-seen items filtered out. Validation for
early stopping is the same split one step earlier, inside the training data, never the test item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.metrics import RankingMetrics, ranking_metrics
from training.sasrec.data import Vocabulary, user_sequences
from training.sasrec.model import SASRec
from training.sasrec.train import top_k_items


@dataclass(frozen=True)
class LeaveOneOut:
    train: pd.DataFrame  # every interaction but each user's last (``user_id``, ``item_id``, ``ts``)
    test: pd.DataFrame  # each user's last interaction


def leave_one_out(interactions: pd.DataFrame) -> LeaveOneOut:
    """Split by time; ``interactions`` must already be in tie-breaking order (e.g. file order)."""
    ordered = interactions.sort_values(["user_id", "ts"], kind="stable")
    last = ~ordered.duplicated("user_id", keep="last")
    return LeaveOneOut(train=ordered[~last].reset_index(drop=True), test=ordered[last].reset_index(drop=True))


def evaluate_sasrec(model: SASRec, vocabulary: Vocabulary, split: LeaveOneOut, k: int = 10) -> RankingMetrics:
    """HR@k / NDCG@k of the test item after each user's full training history, seen items excluded."""
    histories = user_sequences(split.train, vocabulary)
    test = split.test[split.test["user_id"].isin(histories)]
    users = test["user_id"].to_numpy()
    ranked = top_k_items(model, [histories[int(u)] for u in users], k, exclude_seen=True)
    targets = vocabulary.encode(test["item_id"].to_numpy())
    return ranking_metrics(ranked, np.arange(len(users)), targets)


def evaluate_popularity(split: LeaveOneOut, k: int = 10) -> RankingMetrics:
    """Most popular training items, minus the ones each user has seen."""
    counts = split.train.groupby("item_id").size().sort_values(ascending=False, kind="stable")
    popular = counts.index.to_numpy()
    seen = split.train.groupby("user_id")["item_id"].agg(set)
    users = split.test["user_id"].to_numpy()
    ranked = np.full((len(users), k), -1, dtype=np.int64)
    for row, user in enumerate(users):
        mine = seen.get(user, set())
        picks = [item for item in popular[: k + len(mine)] if item not in mine][:k]
        ranked[row, : len(picks)] = picks
    return ranking_metrics(ranked, np.arange(len(users)), split.test["item_id"].to_numpy())
