"""Offline evaluation on the temporal holdout: popularity, SASRec alone, SASRec + ranker.

Every model's list is the one serving would return to each user with a holdout click, from
what was known at the holdout's first midnight (``evaluation.holdout.served_lists``); relevance
is the set of items the user clicked in the holdout. Users with no history get the popularity
list from every model but ``random``, as serving gives them; ``random`` is the floor every
model must clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.metrics import RankingMetrics, ranking_metrics

MODELS = ("random", "popularity", "sasrec", "sasrec_ranker")


POPULATIONS = ("all", "warm", "cold")  # warm: history before the holdout's cut-off; cold: none


@dataclass(frozen=True)
class HoldoutTruth:
    users: np.ndarray  # evaluated user ids, ascending
    relevant: pd.DataFrame  # user_id, item_id: distinct holdout clicks
    warm: np.ndarray | None = None  # per user: clicked before the cut-off (None: not known)

    def relevance_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.searchsorted(self.users, self.relevant["user_id"].to_numpy())
        return rows, self.relevant["item_id"].to_numpy()


def holdout_truth(holdout_clicks: pd.DataFrame, earlier_users: np.ndarray | None = None) -> HoldoutTruth:
    """The holdout's relevant items per user; ``earlier_users`` (ids with a click before the
    cut-off) marks which evaluated users are warm."""
    relevant = holdout_clicks[["user_id", "item_id"]].drop_duplicates().sort_values(["user_id", "item_id"])
    users = np.unique(relevant["user_id"].to_numpy())
    warm = None if earlier_users is None else np.isin(users, earlier_users)
    return HoldoutTruth(users=users, relevant=relevant.reset_index(drop=True), warm=warm)


def evaluate_lists(lists: dict[str, np.ndarray], truth: HoldoutTruth) -> dict[str, RankingMetrics]:
    rows, items = truth.relevance_arrays()
    return {name: ranking_metrics(ranked, rows, items) for name, ranked in lists.items()}


def evaluate_populations(lists: dict[str, np.ndarray], truth: HoldoutTruth) -> dict[str, dict[str, RankingMetrics]]:
    """``evaluate_lists`` for all users, and separately for warm and cold users when known."""
    out = {"all": evaluate_lists(lists, truth)}
    if truth.warm is None:
        return out
    rows, items = truth.relevance_arrays()
    for population, mask in (("warm", truth.warm), ("cold", ~truth.warm)):
        keep = mask[rows]
        renumber = np.cumsum(mask) - 1  # row index within the population
        out[population] = {
            name: ranking_metrics(ranked[mask], renumber[rows[keep]], items[keep]) for name, ranked in lists.items()
        }
    return out


def metrics_table(results: dict[str, dict[str, dict[str, RankingMetrics]]], k: int = 10) -> pd.DataFrame:
    """Long table (candidate, population, model, metric values, users) for display and logging;
    ``results`` maps candidate -> population -> model -> metrics."""
    records = []
    for label, by_population in results.items():
        for population, by_model in by_population.items():
            for name, metrics in by_model.items():
                records.append(
                    {
                        "candidate": label,
                        "population": population,
                        "model": name,
                        f"ndcg@{k}": metrics.ndcg,
                        f"recall@{k}": metrics.recall,
                        f"hr@{k}": metrics.hit_rate,
                        "ndcg_se": metrics.ndcg_se,
                        "users": metrics.users,
                    }
                )
    return pd.DataFrame.from_records(records)
