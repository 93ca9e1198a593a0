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
from evaluation.lists import MODELS, HoldoutTruth, evaluate_populations, holdout_truth
from features.retrieval import historical_features, historical_user_states, historical_user_vectors
from quality.contracts import ScoredCandidates
from slate.rules import CANDIDATES, rank_candidates
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
    earlier = (
        con.execute(
            "SELECT DISTINCT user_id FROM accepted_events WHERE event_type = 'click' AND ts < $cut",
            {"cut": split.holdout_start_ts.to_pydatetime()},
        )
        .df()["user_id"]
        .to_numpy()
    )
    truth = holdout_truth(events[events["event_type"] == "click"], earlier)
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
) -> tuple[ModelView, dict[str, dict[str, RankingMetrics]]]:
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
    return view, evaluate_populations(lists, truth)


@dataclass(frozen=True)
class ServedLists:
    """Each model's list per user, as serving would return it at one moment."""

    lists: dict[str, np.ndarray]  # model -> (users, K) item ids, -1 pads
    list_scores: np.ndarray  # (users, K) calibrated P(click) of the two-stage list's items
    candidate_scores: np.ndarray  # calibrated scores of every retrieved candidate (NaN allowed)
    candidates: pd.DataFrame  # user_id, item_id of every retrieved candidate, aligned with the scores


def served_lists(
    store: FeatureStore,
    bundle: RankerBundle,
    users: np.ndarray,
    as_of: pd.Timestamp,
    catalog: pd.DataFrame,
    popular: np.ndarray,
) -> ServedLists:
    """The lists serving would return at ``as_of``: the same ``CANDIDATES`` retrieved, the
    user's recent items dropped, the category cap, greedy order with ties to the retrieval order
    (``slate.rules.rank_candidates``). SASRec alone orders the candidates by retrieval score, the
    two-stage model by the ranker's raw score; users without an embedding get the popularity
    list from both, as serving gives them."""
    n = len(users)
    states = historical_user_states(store, users, as_of, bundle.embedding_version)
    no_items = np.array([], dtype=np.int64)
    seen = [states[int(u)][1] if int(u) in states else no_items for u in users]
    lists = {name: np.full((n, K), -1, dtype=np.int64) for name in MODELS}
    rng = np.random.default_rng(RANDOM_SEED)
    for row in range(n):  # the floor: a random order of the catalogue under the same rules
        chosen = rank_candidates(
            bundle.item_ids, rng.random(len(bundle.item_ids)), bundle.item_categories, seen[row], K
        )
        _fill(lists["random"], row, bundle.item_ids, chosen)
    category_of = dict(zip(bundle.item_ids.tolist(), bundle.item_categories.tolist(), strict=True))
    popular_categories = np.asarray([category_of.get(int(i), -1) for i in popular], dtype=np.int64)
    popular_order = -np.arange(len(popular), dtype=np.float64)
    for row in range(n):
        _fill(
            lists["popularity"], row, popular, rank_candidates(popular, popular_order, popular_categories, seen[row], K)
        )
    lists["sasrec"][:] = lists["popularity"]
    lists["sasrec_ranker"][:] = lists["popularity"]
    list_scores = np.full((n, K), np.nan)
    known = np.flatnonzero([int(u) in states for u in users])
    if not len(known):
        return ServedLists(lists, list_scores, np.array([]), pd.DataFrame({"user_id": [], "item_id": []}))
    vectors = np.stack([states[int(u)][0] for u in users[known]])
    positions, retrieval_scores = bundle.retrieve_positions(vectors, CANDIDATES)
    valid = positions >= 0
    rows = np.repeat(np.arange(len(known)), positions.shape[1])[valid.ravel()]
    pairs = pd.DataFrame({"user_id": users[known][rows], "item_id": bundle.item_ids[positions[valid]]})
    features = historical_features(store, pairs.assign(event_timestamp=as_of), bundle.embedding_version, catalog)
    raw = bundle.raw_scores(features)
    candidate_scores = bundle.calibrator.apply(raw) if bundle.calibrator is not None else raw
    order = np.where(np.isfinite(raw), raw, -np.inf)
    starts = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
    for i, row in enumerate(known):
        span = slice(starts[i], starts[i + 1])
        items = pairs["item_id"].to_numpy()[span]
        categories = bundle.item_categories[positions[i][valid[i]]]
        _fill(
            lists["sasrec"], row, items, rank_candidates(items, retrieval_scores[i][valid[i]], categories, seen[row], K)
        )
        chosen = rank_candidates(items, order[span], categories, seen[row], K)
        _fill(lists["sasrec_ranker"], row, items, chosen)
        list_scores[row, : len(chosen)] = candidate_scores[span][chosen]
    return ServedLists(lists, list_scores, candidate_scores, pairs)


def _fill(lists: np.ndarray, row: int, items: np.ndarray, positions: np.ndarray) -> None:
    lists[row, : len(positions)] = items[positions]
