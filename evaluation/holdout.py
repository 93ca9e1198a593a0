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
from features.retrieval import historical_features, historical_user_states
from quality.contracts import ScoredCandidates
from slate.rules import CANDIDATES, rank_candidates
from training.metrics import RankingMetrics
from training.ranker.bundle import CONFIGURATIONS, FIRST_STAGE, POPULARITY, TWO_STAGE, RankerBundle
from training.ranker.candidates import NOT_RETRIEVED_RANK, rank_lookup, retrieve_users
from training.ranker.fit import segment_masks
from training.split import TemporalSplit

K = 10
RANDOM_SEED = 0


@dataclass
class HoldoutData:
    truth: HoldoutTruth
    as_of: pd.Timestamp
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
    return HoldoutData(truth, split.holdout_start_ts, catalog, impressions, holdout)


# The list each configuration serves, by its name in the metrics table.
CONFIGURATION_LISTS = {POPULARITY: "popularity", FIRST_STAGE: "sasrec", TWO_STAGE: "sasrec_ranker"}


@dataclass(frozen=True)
class ServedLists:
    """Each model's list per user, as serving would return it at one moment."""

    lists: dict[str, np.ndarray]  # model -> (users, K) item ids, -1 pads
    list_scores: dict[str, np.ndarray]  # configuration -> (users, K) calibrated P(click) of its list's items
    candidate_scores: dict[str, np.ndarray]  # configuration -> calibrated scores of what it scored
    candidates: pd.DataFrame  # user_id, item_id, retrieval_rank of the two-stage pool (aligned with its scores)


def served_lists(
    store: FeatureStore,
    bundle: RankerBundle,
    users: np.ndarray,
    as_of: pd.Timestamp,
    catalog: pd.DataFrame,
    popular_pool: bool = True,
) -> ServedLists:
    """The lists serving would return at ``as_of``: the same ``CANDIDATES`` retrieved, the
    user's recent items dropped, the category cap, greedy order with ties to the retrieval order
    (``slate.rules.rank_candidates``). SASRec alone (``first_stage``) orders the candidates by
    retrieval score, the two-stage model by the ranker's raw score, popularity by the bundle's
    popular list; users without an embedding get the popularity list from all three, as serving
    gives them."""
    n = len(users)
    states = historical_user_states(store, users, as_of, bundle.embedding_version)
    no_items = np.array([], dtype=np.int64)
    seen = [states[int(u)][1] if int(u) in states else no_items for u in users]
    lists = {name: np.full((n, K), -1, dtype=np.int64) for name in MODELS}
    list_scores = {name: np.full((n, K), np.nan) for name in CONFIGURATIONS}
    rng = np.random.default_rng(RANDOM_SEED)
    for row in range(n):  # the floor: a random order of the catalogue under the same rules
        chosen = rank_candidates(
            bundle.item_ids, rng.random(len(bundle.item_ids)), bundle.item_categories, seen[row], K
        )
        _fill(lists["random"], row, bundle.item_ids, chosen)
    popular = bundle.popular_items
    category_of = dict(zip(bundle.item_ids.tolist(), bundle.item_categories.tolist(), strict=True))
    popular_categories = np.asarray([category_of.get(int(i), -1) for i in popular], dtype=np.int64)
    popular_order = bundle.popularity_scores(popular)
    popular_probability = bundle.probabilities(POPULARITY, popular_order)
    for row in range(n):
        chosen = rank_candidates(popular, popular_order, popular_categories, seen[row], K)
        _fill(lists["popularity"], row, popular, chosen)
        list_scores[POPULARITY][row, : len(chosen)] = popular_probability[chosen]
    lists["sasrec"][:] = lists["popularity"]
    lists["sasrec_ranker"][:] = lists["popularity"]
    list_scores[FIRST_STAGE][:] = list_scores[POPULARITY]
    list_scores[TWO_STAGE][:] = list_scores[POPULARITY]
    candidate_scores = {POPULARITY: popular_probability}
    known = np.flatnonzero([int(u) in states for u in users])
    if not len(known):
        empty = pd.DataFrame({"user_id": [], "item_id": [], "retrieval_rank": []})
        return ServedLists(
            lists, list_scores, candidate_scores | {FIRST_STAGE: np.array([]), TWO_STAGE: np.array([])}, empty
        )
    vectors = np.stack([states[int(u)][0] for u in users[known]])
    positions, retrieval_scores = bundle.retrieve_positions(vectors, CANDIDATES)
    # Each user's pool, as serving builds it: the retrieved items, then the popular ones not retrieved.
    pools, retrieved_counts = [], []
    for i, row in enumerate(known):
        found = positions[i][positions[i] >= 0]
        extra = bundle.popular_positions(np.concatenate([bundle.item_ids[found], seen[row]]))
        extra = extra if popular_pool else extra[:0]  # without: what a single-source pool would serve
        pools.append(np.concatenate([found, extra]))
        retrieved_counts.append(len(found))
    sizes = np.array([len(pool) for pool in pools])
    pool_positions = np.concatenate(pools)
    ranks = np.concatenate(  # 0-based retrieval ranks, then NOT_RETRIEVED_RANK for the popular additions
        [
            np.where(np.arange(size) < retrieved, np.arange(size), NOT_RETRIEVED_RANK)
            for size, retrieved in zip(sizes, retrieved_counts, strict=True)
        ]
    ).astype(np.float64)
    pairs = pd.DataFrame(
        {
            "user_id": np.repeat(users[known], sizes),
            "item_id": bundle.item_ids[pool_positions],
            "retrieval_rank": ranks,
        }
    )
    features = historical_features(store, pairs.assign(event_timestamp=as_of), bundle.embedding_version, catalog)
    raw = bundle.raw_scores(features)
    candidate_scores[TWO_STAGE] = bundle.probabilities(TWO_STAGE, raw)
    order = np.where(np.isfinite(raw), raw, -np.inf)
    first_scores = []
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for i, row in enumerate(known):
        span = slice(starts[i], starts[i + 1])
        items = pairs["item_id"].to_numpy()[span]
        categories = bundle.item_categories[pool_positions[span]]
        retrieved = slice(0, retrieved_counts[i])  # SASRec alone orders only what it retrieved
        first = retrieval_scores[i][positions[i] >= 0].astype(np.float64)
        first_probability = bundle.probabilities(FIRST_STAGE, first)
        first_scores.append(first_probability)
        chosen = rank_candidates(items[retrieved], first, categories[retrieved], seen[row], K)
        _fill(lists["sasrec"], row, items[retrieved], chosen)
        list_scores[FIRST_STAGE][row] = np.nan
        list_scores[FIRST_STAGE][row, : len(chosen)] = first_probability[chosen]
        chosen = rank_candidates(items, order[span], categories, seen[row], K)
        _fill(lists["sasrec_ranker"], row, items, chosen)
        list_scores[TWO_STAGE][row] = np.nan
        list_scores[TWO_STAGE][row, : len(chosen)] = candidate_scores[TWO_STAGE][span][chosen]
    candidate_scores[FIRST_STAGE] = np.concatenate(first_scores)
    return ServedLists(lists, list_scores, candidate_scores, pairs)


def impression_scores(
    store: FeatureStore, bundle: RankerBundle, data: HoldoutData
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Each configuration's calibrated P(click) of the holdout impressions (for ECE), with the
    retrieval rank each impression had in the user's first-stage list at the holdout's start."""
    shown = data.impressions
    users = np.unique(shown["user_id"].to_numpy())
    states = historical_user_states(store, users, data.as_of, bundle.embedding_version)
    found = retrieve_users(bundle.index, bundle.item_ids, states)
    ranked = shown.assign(retrieval_rank=rank_lookup(found, shown["user_id"].to_numpy(), shown["item_id"].to_numpy()))
    frame = historical_features(store, ranked, bundle.embedding_version, data.catalog)
    scores = {
        TWO_STAGE: bundle.probabilities(TWO_STAGE, bundle.raw_scores(frame)),
        FIRST_STAGE: bundle.probabilities(FIRST_STAGE, frame["sasrec_score"].to_numpy(dtype=np.float64)),
        POPULARITY: bundle.probabilities(POPULARITY, bundle.popularity_scores(frame["item_id"].to_numpy())),
    }
    return scores, frame


def configuration_views(
    store: FeatureStore, bundle: RankerBundle, label: str, version: int | None, data: HoldoutData
) -> tuple[dict[str, ModelView], dict[str, dict[str, RankingMetrics]]]:
    """One ``ModelView`` per configuration of a bundle on the holdout's served lists, and the
    metrics of every model's list per population."""
    served = served_lists(store, bundle, data.truth.users, data.as_of, data.catalog)
    shown, frame = impression_scores(store, bundle, data)
    if not data.holdout.impression_segments:
        data.holdout.impression_segments = segment_masks(frame)
    views = {
        configuration: ModelView(
            label=f"{label} {configuration}",
            version=version,
            lists=served.lists[CONFIGURATION_LISTS[configuration]],
            list_scores=served.list_scores[configuration],
            first_stage_lists=served.lists["sasrec"],
            impression_scores=shown[configuration],
            candidate_scores=served.candidate_scores[configuration],
        )
        for configuration in CONFIGURATIONS
    }
    if np.isfinite(served.candidate_scores[TWO_STAGE]).all() and len(served.candidates):
        scored = served.candidates[["user_id", "item_id"]].assign(score=served.candidate_scores[TWO_STAGE])
        scored["rank"] = scored.groupby("user_id")["score"].rank(ascending=False, method="first").astype("int64")
        ScoredCandidates.validate(scored, lazy=True)
    return views, evaluate_populations(served.lists, data.truth)


def _fill(lists: np.ndarray, row: int, items: np.ndarray, positions: np.ndarray) -> None:
    lists[row, : len(positions)] = items[positions]
