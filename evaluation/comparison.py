"""Challenger against champion on the identical holdout: accuracy, beyond-accuracy, calibration,
score distribution and business-rule replay, each difference with a paired bootstrap 95% CI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from training.calibration import expected_calibration_error
from training.metrics import per_user_metrics

PSI_BINS = np.linspace(0.0, 1.0, 21)
PSI_EPSILON = 1e-4


@dataclass
class ModelView:
    """What one model produced on the holdout (rows of ``lists`` are the evaluated users)."""

    label: str
    version: int | None
    lists: np.ndarray  # (users, k) item ids of the two-stage model, -1 pads
    list_scores: np.ndarray  # (users, k) calibrated scores of those items (NaN allowed, -1 slots NaN)
    first_stage_lists: np.ndarray  # (users, k) the same model's SASRec lists
    impression_scores: np.ndarray  # calibrated scores of the holdout impressions (aligned with labels)
    candidate_scores: np.ndarray  # every candidate it scored (for the score distribution)


@dataclass
class Holdout:
    """The shared ground truth: relevance per evaluated user and the impressions' clicks."""

    relevant_rows: np.ndarray
    relevant_items: np.ndarray
    impression_labels: np.ndarray
    impression_segments: dict[str, np.ndarray]  # segment name -> mask over impressions
    item_popularity: pd.Series  # clicks per item before the holdout (for novelty and popularity bias)
    item_category: pd.Series  # category per item (for intra-list diversity)
    catalogue_size: int


@dataclass
class Difference:
    metric: str
    challenger: float
    champion: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    rows: list[Difference] = field(default_factory=list)
    diagnostics: dict[str, float] = field(default_factory=dict)

    def get(self, metric: str) -> Difference:
        return next(row for row in self.rows if row.metric == metric)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([row.as_dict() for row in self.rows])


def _per_user(view: ModelView, holdout: Holdout) -> dict[str, np.ndarray]:
    return per_user_metrics(view.lists, holdout.relevant_rows, holdout.relevant_items)


def coverage(lists: np.ndarray, catalogue_size: int) -> float:
    items = lists[lists >= 0]
    return len(np.unique(items)) / max(catalogue_size, 1)


def intra_list_diversity(lists: np.ndarray, category: pd.Series) -> np.ndarray:
    """Per list: the share of item pairs from different categories."""
    cats = pd.Series(lists.ravel()).map(category).to_numpy().reshape(lists.shape)
    out = np.zeros(len(lists))
    for row, values in enumerate(cats):
        values = values[~pd.isna(values)]
        n = len(values)
        if n < 2:
            continue
        same = sum(c * (c - 1) for c in pd.Series(values).value_counts().to_numpy())
        out[row] = 1.0 - same / (n * (n - 1))
    return out


def novelty(lists: np.ndarray, popularity: pd.Series) -> np.ndarray:
    """Per list: mean self-information -log2(share of clicks) of its items (unseen items count once)."""
    total = float(popularity.sum()) + len(popularity) + 1
    shares = (pd.Series(lists.ravel()).map(popularity).fillna(0).to_numpy() + 1) / total
    info = np.where(lists >= 0, -np.log2(shares).reshape(lists.shape), np.nan)
    return np.nanmean(info, axis=1)


def popularity_bias(lists: np.ndarray, popularity: pd.Series) -> np.ndarray:
    """Per list: mean popularity percentile of its items (1 = the most clicked item)."""
    percentile = popularity.rank(pct=True)
    values = pd.Series(lists.ravel()).map(percentile).fillna(0).to_numpy().reshape(lists.shape)
    return np.nanmean(np.where(lists >= 0, values, np.nan), axis=1)


def business_share(scores: np.ndarray, threshold: float) -> float:
    """Share of served recommendations whose calibrated score crosses ``threshold``."""
    valid = ~np.isnan(scores)
    return float((scores[valid] >= threshold).mean()) if valid.any() else float("nan")


def psi(current: np.ndarray, reference: np.ndarray) -> float:
    """Population stability index of two score samples over fixed probability bins."""
    a = np.histogram(np.clip(current[np.isfinite(current)], 0, 1), bins=PSI_BINS)[0].astype(float)
    b = np.histogram(np.clip(reference[np.isfinite(reference)], 0, 1), bins=PSI_BINS)[0].astype(float)
    p = a / max(a.sum(), 1) + PSI_EPSILON
    q = b / max(b.sum(), 1) + PSI_EPSILON
    return float(np.sum((p - q) * np.log(p / q)))


def paired_bootstrap(
    statistic: Callable[[np.ndarray], float], n: int, resamples: int = 300, seed: int = 0
) -> tuple[float, float]:
    """95% interval of ``statistic(indices)`` over resampled indices 0..n-1 (paired: both models
    see the same resample)."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(resamples)])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def compare(
    challenger: ModelView,
    champion: ModelView | None,
    holdout: Holdout,
    thresholds: list[float],
    resamples: int = 300,
) -> Comparison:
    """Every compared metric for the challenger, the champion's value, their delta and its CI."""
    comparison = Comparison()
    users = len(challenger.lists)
    mine = _per_user(challenger, holdout)
    theirs = _per_user(champion, holdout) if champion is not None else None
    scored = mine["scored"]

    def add(metric: str, per_user_a: np.ndarray, per_user_b: np.ndarray | None, mask: np.ndarray | None = None) -> None:
        mask = np.ones(users, dtype=bool) if mask is None else mask
        value = float(np.nanmean(per_user_a[mask])) if mask.any() else float("nan")
        if per_user_b is None:
            comparison.rows.append(Difference(metric, value, None, None, None, None))
            return
        other = float(np.nanmean(per_user_b[mask])) if mask.any() else float("nan")
        index = np.flatnonzero(mask)
        low, high = paired_bootstrap(
            lambda s: float(np.nanmean(per_user_a[index[s]]) - np.nanmean(per_user_b[index[s]])), len(index), resamples
        )
        comparison.rows.append(Difference(metric, value, other, value - other, low, high))

    for name in ("ndcg", "recall", "mrr"):
        add(f"{name}_at_10", mine[name], theirs[name] if theirs else None, scored)
    first = per_user_metrics(challenger.first_stage_lists, holdout.relevant_rows, holdout.relevant_items)
    comparison.diagnostics["first_stage_ndcg_at_10"] = float(np.mean(first["ndcg"][scored])) if scored.any() else 0.0
    # The ranker against its own first stage, paired over the same users: the margin and its CI.
    index = np.flatnonzero(scored)
    low, high = (float("nan"), float("nan"))
    if len(index):
        low, high = paired_bootstrap(
            lambda s: float(np.mean(mine["ndcg"][index[s]]) - np.mean(first["ndcg"][index[s]])), len(index), resamples
        )
    comparison.diagnostics["two_stage_minus_first_stage_ci_low"] = low
    comparison.diagnostics["two_stage_minus_first_stage_ci_high"] = high

    add(
        "intra_list_diversity",
        intra_list_diversity(challenger.lists, holdout.item_category),
        intra_list_diversity(champion.lists, holdout.item_category) if champion else None,
    )
    add(
        "novelty",
        novelty(challenger.lists, holdout.item_popularity),
        novelty(champion.lists, holdout.item_popularity) if champion else None,
    )
    add(
        "popularity_bias",
        popularity_bias(challenger.lists, holdout.item_popularity),
        popularity_bias(champion.lists, holdout.item_popularity) if champion else None,
    )

    cov_a = coverage(challenger.lists, holdout.catalogue_size)
    if champion is None:
        comparison.rows.append(Difference("coverage", cov_a, None, None, None, None))
    else:
        cov_b = coverage(champion.lists, holdout.catalogue_size)
        low, high = paired_bootstrap(
            lambda s: (
                coverage(challenger.lists[s], holdout.catalogue_size)
                - coverage(champion.lists[s], holdout.catalogue_size)
            ),
            users,
            resamples,
        )
        comparison.rows.append(Difference("coverage", cov_a, cov_b, cov_a - cov_b, low, high))

    labels = holdout.impression_labels
    segments = {"": np.ones(len(labels), dtype=bool), **{f"_{k}": v for k, v in holdout.impression_segments.items()}}
    for suffix, mask in segments.items():
        index = np.flatnonzero(mask & np.isfinite(challenger.impression_scores))
        if len(index) == 0:
            continue
        ece_a = expected_calibration_error(challenger.impression_scores[index], labels[index])
        if champion is None:
            comparison.rows.append(Difference(f"ece{suffix}", ece_a, None, None, None, None))
            continue
        ece_b = expected_calibration_error(champion.impression_scores[index], labels[index])
        low, high = paired_bootstrap(
            lambda s, i=index: (
                expected_calibration_error(challenger.impression_scores[i[s]], labels[i[s]])
                - expected_calibration_error(champion.impression_scores[i[s]], labels[i[s]])
            ),
            len(index),
            max(100, resamples // 3),
        )
        comparison.rows.append(Difference(f"ece{suffix}", ece_a, ece_b, ece_a - ece_b, low, high))

    a = challenger.list_scores
    b = champion.list_scores if champion is not None else None
    for threshold in thresholds:
        share_a = business_share(a, threshold)
        if champion is None:
            comparison.rows.append(Difference(f"share_score_ge_{threshold:g}", share_a, None, None, None, None))
            continue
        share_b = business_share(b, threshold)
        low, high = paired_bootstrap(
            lambda s, t=threshold: business_share(a[s].ravel(), t) - business_share(b[s].ravel(), t), users, resamples
        )
        comparison.rows.append(
            Difference(f"share_score_ge_{threshold:g}", share_a, share_b, share_a - share_b, low, high)
        )

    scores = challenger.candidate_scores
    comparison.diagnostics |= {
        "non_finite_scores": float((~np.isfinite(scores)).sum()),
        "score_std": float(np.nanstd(scores)) if np.isfinite(scores).any() else 0.0,
        "scored_candidates": float(len(scores)),
        "users": float(users),
    }
    if champion is not None:
        comparison.diagnostics["psi_vs_champion"] = psi(challenger.candidate_scores, champion.candidate_scores)
    return comparison
