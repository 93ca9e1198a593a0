"""Evaluate a registered ranker bundle on the holdout, reading features point in time from Feast."""

from __future__ import annotations

import numpy as np
import pandas as pd
from feast import FeatureStore

from feature_repo.retrieval import historical_features, historical_user_vectors
from orchestration.contracts import ScoredCandidates
from training.evaluation import HoldoutTruth, evaluate_lists, rank_all
from training.metrics import RankingMetrics
from training.ranker.bundle import RankerBundle


def evaluate_bundle(
    store: FeatureStore,
    bundle: RankerBundle,
    truth: HoldoutTruth,
    as_of: pd.Timestamp,
    popular: np.ndarray,
    catalog: pd.DataFrame,
    k: int = 10,
    n_candidates: int = 100,
) -> tuple[dict[str, RankingMetrics], dict[str, float]]:
    """Metrics for popularity, SASRec and SASRec + ranker, plus score diagnostics of the ranker."""
    user_vectors = historical_user_vectors(store, truth.users, as_of, bundle.embedding_version)
    seen_scores: list[np.ndarray] = []
    guard_reports: list = []

    def features_for(pairs: pd.DataFrame) -> pd.DataFrame:
        frame = historical_features(store, pairs.assign(event_timestamp=as_of), bundle.embedding_version, catalog)
        scores = bundle.score(frame)
        scored = pairs[["user_id", "item_id"]].assign(score=scores)
        scored["rank"] = scored.groupby("user_id")["score"].rank(ascending=False, method="first").astype("int64")
        ScoredCandidates.validate(scored, lazy=True)
        guard_reports.append(bundle.guard(frame)[1])
        seen_scores.append(scores)
        return frame

    lists = rank_all(bundle, truth, user_vectors, features_for, popular, k=k, n_candidates=n_candidates)
    scores = np.concatenate(seen_scores) if seen_scores else np.array([])
    diagnostics = {
        "scored_pairs": float(len(scores)),
        "non_finite_scores": float((~np.isfinite(scores)).sum()),
        "score_std": float(np.nanstd(scores)) if len(scores) else 0.0,
        "users_with_history": float(len(user_vectors)),
        "guard_changed_values": float(sum(r.changed for r in guard_reports)),
    }
    return evaluate_lists(lists, truth), diagnostics
