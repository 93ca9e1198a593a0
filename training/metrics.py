"""Vectorised top-k ranking metrics with binary relevance.

``ranked`` is a (users, k) matrix of item ids (use -1 for empty slots); relevance is given as
parallel arrays of (user row, item id) pairs. Everything is computed with numpy at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankingMetrics:
    ndcg: float
    recall: float
    hit_rate: float
    mrr: float
    users: int
    ndcg_se: float
    recall_se: float

    def as_dict(self, k: int, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}ndcg_at_{k}": self.ndcg,
            f"{prefix}recall_at_{k}": self.recall,
            f"{prefix}hr_at_{k}": self.hit_rate,
            f"{prefix}mrr_at_{k}": self.mrr,
            f"{prefix}ndcg_at_{k}_se": self.ndcg_se,
            f"{prefix}recall_at_{k}_se": self.recall_se,
            f"{prefix}users": float(self.users),
        }


def hit_matrix(ranked: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray) -> np.ndarray:
    """(users, k) boolean: is the item at each rank relevant to that row's user."""
    ranked = np.asarray(ranked, dtype=np.int64)
    n_rows = ranked.shape[0]
    span = int(max(ranked.max(initial=0), np.max(relevant_items, initial=0))) + 2
    ranked_keys = np.arange(n_rows)[:, None] * span + (ranked + 1)
    relevant_keys = np.asarray(relevant_rows, dtype=np.int64) * span + (np.asarray(relevant_items) + 1)
    return np.isin(ranked_keys, relevant_keys) & (ranked >= 0)


def relevant_counts(n_rows: int, relevant_rows: np.ndarray, relevant_items: np.ndarray) -> np.ndarray:
    """Number of distinct relevant items per row."""
    pairs = np.unique(np.stack([np.asarray(relevant_rows), np.asarray(relevant_items)]), axis=1)
    return np.bincount(pairs[0], minlength=n_rows)


def per_user_metrics(
    ranked: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> dict[str, np.ndarray]:
    """NDCG@k, Recall@k, hit and reciprocal rank for every row, plus which rows have relevance."""
    ranked = np.asarray(ranked)
    n_rows, k = ranked.shape
    hits = hit_matrix(ranked, relevant_rows, relevant_items)
    n_relevant = relevant_counts(n_rows, relevant_rows, relevant_items)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.clip(n_relevant, 1, k) - 1]
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    return {
        "ndcg": (hits * discounts).sum(axis=1) / ideal,
        "recall": hits.sum(axis=1) / np.maximum(n_relevant, 1),
        "hit": hits.any(axis=1).astype(float),
        "mrr": 1.0 / first,
        "scored": n_relevant > 0,
    }


def ranking_metrics(ranked: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray) -> RankingMetrics:
    """NDCG@k, Recall@k, HitRate@k and MRR@k averaged over rows with at least one relevant item."""
    rows = per_user_metrics(ranked, relevant_rows, relevant_items)
    ndcg, recall, hit, mrr, scored = rows["ndcg"], rows["recall"], rows["hit"], rows["mrr"], rows["scored"]
    n = int(scored.sum())

    def mean_se(values: np.ndarray) -> tuple[float, float]:
        chosen = values[scored]
        if n == 0:
            return 0.0, 0.0
        return float(chosen.mean()), float(chosen.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0

    ndcg_mean, ndcg_se = mean_se(ndcg)
    recall_mean, recall_se = mean_se(recall)
    return RankingMetrics(
        ndcg=ndcg_mean,
        recall=recall_mean,
        hit_rate=mean_se(hit)[0],
        mrr=mean_se(mrr)[0],
        users=n,
        ndcg_se=ndcg_se,
        recall_se=recall_se,
    )
