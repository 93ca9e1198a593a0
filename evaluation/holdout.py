"""Evaluate registered ranker bundles on the holdout, reading features point in time from Feast,
and gather what the promotion gate compares."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from feast import FeatureStore

from core.events import read_events
from evaluation.comparison import Holdout, ModelView
from evaluation.lists import MODELS, HoldoutTruth, evaluate_lists, holdout_truth
from features.retrieval import historical_features, historical_user_vectors
from quality.contracts import ScoredCandidates
from training.metrics import RankingMetrics
from training.ranker.bundle import RankerBundle
from training.ranker.fit import segment_masks
from training.split import TemporalSplit
from training.topk import popular_items, top_k_by_score

K = 10
N_CANDIDATES = 100
RANDOM_SEED = 0


@dataclass
class HoldoutData:
    truth: HoldoutTruth
    as_of: pd.Timestamp
    popular: np.ndarray
    catalog: pd.DataFrame
    impressions: pd.DataFrame  # holdout impressions: user_id, item_id, event_timestamp, label
    holdout: Holdout


def holdout_data(con: duckdb.DuckDBPyConnection, split: TemporalSplit, catalog: pd.DataFrame) -> HoldoutData:
    """Everything both models are judged on: the same users, clicks and impressions."""
    events = read_events(con, start=split.holdout_start_ts, end=split.end_ts)
    before = read_events(con, start=split.ranker_start_ts, end=split.holdout_start_ts, event_type="click")
    truth = holdout_truth(events[events["event_type"] == "click"])
    clicked = set(
        zip(
            events.loc[events["event_type"] == "click", "session_id"],
            events.loc[events["event_type"] == "click", "item_id"],
            strict=True,
        )
    )
    shown = events[events["event_type"] == "impression"].drop_duplicates(["session_id", "item_id"])
    impressions = pd.DataFrame(
        {
            "user_id": shown["user_id"].to_numpy(),
            "item_id": shown["item_id"].to_numpy(),
            "event_timestamp": shown["ts"].to_numpy(),
            "label": [int((s, i) in clicked) for s, i in zip(shown["session_id"], shown["item_id"], strict=True)],
        }
    )
    rows, items = truth.relevance_arrays()
    popularity = before.groupby("item_id").size()
    holdout = Holdout(
        relevant_rows=rows,
        relevant_items=items,
        impression_labels=impressions["label"].to_numpy(),
        impression_segments={},
        item_popularity=popularity,
        item_category=catalog.set_index("item_id")["category"],
        catalogue_size=len(catalog),
    )
    return HoldoutData(truth, split.holdout_start_ts, popular_items(before, K), catalog, impressions, holdout)


def model_view(
    store: FeatureStore, bundle: RankerBundle, label: str, version: int | None, data: HoldoutData
) -> tuple[ModelView, dict[str, RankingMetrics]]:
    """Rank the holdout users' candidates and score the holdout impressions with one bundle."""
    truth, n = data.truth, len(data.truth.users)
    fallback = np.full(K, -1, dtype=np.int64)
    fallback[: min(K, len(data.popular))] = data.popular[:K]
    lists = {name: np.tile(fallback, (n, 1)) for name in MODELS}
    rng = np.random.default_rng(RANDOM_SEED)
    lists["random"] = np.stack(
        [rng.choice(bundle.item_ids, size=min(K, len(bundle.item_ids)), replace=False) for _ in range(n)]
    )
    list_scores = np.full((n, K), np.nan)
    candidate_scores = np.array([])
    user_vectors = historical_user_vectors(store, truth.users, data.as_of, bundle.embedding_version)
    known = np.flatnonzero([u in user_vectors for u in truth.users])
    if len(known):
        vectors = np.stack([user_vectors[int(u)] for u in truth.users[known]])
        candidates, retrieval_scores = bundle.retrieve(vectors, N_CANDIDATES)
        row_of = np.repeat(np.arange(len(known)), candidates.shape[1])
        lists["sasrec"][known] = top_k_by_score(row_of, candidates.ravel(), retrieval_scores.ravel(), len(known), K)
        pairs = pd.DataFrame(
            {
                "user_id": np.repeat(truth.users[known], candidates.shape[1]),
                "item_id": candidates.ravel(),
                "event_timestamp": data.as_of,
            }
        )
        candidate_scores = bundle.score_unchecked(
            historical_features(store, pairs, bundle.embedding_version, data.catalog)
        )
        ordering = np.where(np.isfinite(candidate_scores), candidate_scores, -np.inf)
        ranked = top_k_by_score(row_of, candidates.ravel(), ordering, len(known), K)
        lists["sasrec_ranker"][known] = ranked
        score_of = dict(zip(zip(pairs["user_id"], pairs["item_id"], strict=True), candidate_scores, strict=True))
        for position, (row, user) in enumerate(zip(known, truth.users[known], strict=True)):
            list_scores[row] = [
                score_of.get((int(user), int(item)), np.nan) if item >= 0 else np.nan for item in ranked[position]
            ]
        if np.isfinite(candidate_scores).all():
            scored = pairs[["user_id", "item_id"]].assign(score=candidate_scores)
            scored["rank"] = scored.groupby("user_id")["score"].rank(ascending=False, method="first").astype("int64")
            ScoredCandidates.validate(scored, lazy=True)
    impression_frame = historical_features(store, data.impressions, bundle.embedding_version, data.catalog)
    impression_scores = bundle.score_unchecked(impression_frame)
    if not data.holdout.impression_segments:
        data.holdout.impression_segments = segment_masks(impression_frame)
    view = ModelView(
        label=label,
        version=version,
        lists=lists["sasrec_ranker"],
        list_scores=list_scores,
        first_stage_lists=lists["sasrec"],
        impression_scores=impression_scores,
        candidate_scores=candidate_scores,
    )
    return view, evaluate_lists(lists, truth)
