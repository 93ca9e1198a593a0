"""Offline evaluation on the temporal holdout: popularity, SASRec alone, SASRec + ranker.

Every model ranks the full catalogue for each user with a holdout click, from what was known
at the holdout's first midnight; relevance is the set of items the user clicked in the holdout.
Users with no history get the popularity list from every model but ``random``, as serving would
give them; ``random`` is the floor every model must clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.metrics import RankingMetrics, ranking_metrics

MODELS = ("random", "popularity", "sasrec", "sasrec_ranker")


@dataclass(frozen=True)
class HoldoutTruth:
    users: np.ndarray  # evaluated user ids, ascending
    relevant: pd.DataFrame  # user_id, item_id: distinct holdout clicks

    def relevance_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.searchsorted(self.users, self.relevant["user_id"].to_numpy())
        return rows, self.relevant["item_id"].to_numpy()


def holdout_truth(holdout_clicks: pd.DataFrame) -> HoldoutTruth:
    relevant = holdout_clicks[["user_id", "item_id"]].drop_duplicates().sort_values(["user_id", "item_id"])
    return HoldoutTruth(users=np.unique(relevant["user_id"].to_numpy()), relevant=relevant.reset_index(drop=True))


def evaluate_lists(lists: dict[str, np.ndarray], truth: HoldoutTruth) -> dict[str, RankingMetrics]:
    rows, items = truth.relevance_arrays()
    return {name: ranking_metrics(ranked, rows, items) for name, ranked in lists.items()}


def metrics_table(results: dict[str, dict[str, RankingMetrics]], k: int = 10) -> pd.DataFrame:
    """Long table (model_version, model, metric values) for display and logging."""
    records = []
    for label, by_model in results.items():
        for name, metrics in by_model.items():
            records.append(
                {
                    "candidate": label,
                    "model": name,
                    f"ndcg@{k}": metrics.ndcg,
                    f"recall@{k}": metrics.recall,
                    f"hr@{k}": metrics.hit_rate,
                    "ndcg_se": metrics.ndcg_se,
                    "users": metrics.users,
                }
            )
    return pd.DataFrame.from_records(records)
