"""The ranker's candidate rows on hand-written lists: sampling, labels, ranks, weights."""

import numpy as np
import pandas as pd

from training.ranker.bundle import hnsw_index
from training.ranker.candidates import (
    NOT_RETRIEVED_RANK,
    Retrieved,
    day_candidates,
    popularity_order,
    propensity_weights,
    rank_lookup,
    retrieve,
    sample_negatives,
    with_popular,
)


def test_sampling_keeps_every_positive_and_draws_every_rank_band_at_the_same_rate():
    ranks = np.arange(200)
    labels = np.zeros(200, dtype=np.int64)
    labels[[3, 120]] = 1
    keep = sample_negatives(ranks, labels, np.random.default_rng(0), per_positive=20)
    assert {3, 120} <= set(keep.tolist())
    negatives = keep[labels[keep] == 0]
    # 2 positives x 20 = 40 of 198 negatives: each band gives its share (9, 40, 50 and 99 negatives).
    counts = [
        int(((negatives >= lo) & (negatives < hi)).sum()) for lo, hi in [(0, 10), (10, 50), (50, 100), (100, 200)]
    ]
    assert counts == [2, 8, 10, 20]
    assert len(np.unique(keep)) == len(keep)


def test_a_user_without_a_retrieved_click_gives_no_rows():
    labels = np.zeros(5, dtype=np.int64)
    assert len(sample_negatives(np.arange(5), labels, np.random.default_rng(0))) == 0


def test_day_candidates_label_the_day_clicks_and_carry_the_retrieval_rank():
    day = pd.Timestamp("2026-01-02", tz="UTC")
    retrieved = {
        7: Retrieved(item_ids=np.array([10, 11, 12]), ranks=np.array([0, 2, 3])),
        8: Retrieved(item_ids=np.array([10, 13]), ranks=np.array([0, 1])),  # clicked nothing retrieved
    }
    clicks = pd.DataFrame({"user_id": [7, 8], "item_id": [12, 99]})
    rows = day_candidates(retrieved, clicks, day, np.random.default_rng(0), sample=False)
    assert rows["session_id"].unique().tolist() == ["cand-7-2026-01-02"]
    assert rows[["item_id", "label", "position"]].to_numpy().tolist() == [[10, 0, 1], [11, 0, 3], [12, 1, 4]]
    assert rows["retrieval_rank"].tolist() == [0.0, 2.0, 3.0]
    assert (rows["ts"] == day).all() and (rows["weight"] == 1.0).all()


def test_rank_lookup_marks_impressions_the_first_stage_did_not_retrieve():
    retrieved = {7: Retrieved(item_ids=np.array([10, 11]), ranks=np.array([0, 4]))}
    ranks = rank_lookup(retrieved, np.array([7, 7, 8]), np.array([11, 12, 10]))
    assert ranks.tolist() == [4.0, float(NOT_RETRIEVED_RANK), float(NOT_RETRIEVED_RANK)]


def test_propensity_weights_are_clipped_inverse_propensities_with_mean_one():
    weights = propensity_weights(pd.Series([0.5, 0.01, np.nan, 1.0]))
    assert weights.tolist() == [2.0 / 6, 20.0 / 6, 1.0 / 6, 1.0 / 6]


def test_retrieve_drops_seen_items_but_keeps_their_ranks():
    items = np.array([1, 2, 3, 4])
    vectors = np.eye(4, dtype=np.float32) * np.array([[4.0], [3.0], [2.0], [1.0]])
    index = hnsw_index(vectors)
    found = retrieve(index, items, np.ones((1, 4), dtype=np.float32), [np.array([2])], k=4)
    assert found[0].item_ids.tolist() == [1, 3, 4] and found[0].ranks.tolist() == [0, 2, 3]


def test_the_pool_adds_the_popular_items_sasrec_did_not_retrieve_and_the_user_has_not_seen():
    found = Retrieved(item_ids=np.array([10, 11]), ranks=np.array([0, 3]))
    pool = with_popular(found, popular=np.array([11, 12, 13, 14]), seen=np.array([13]))
    assert pool.item_ids.tolist() == [10, 11, 12, 14]
    assert pool.ranks.tolist() == [0, 3, NOT_RETRIEVED_RANK, NOT_RETRIEVED_RANK]


def test_the_popularity_order_scores_by_place_in_the_popular_list():
    scores = popularity_order(np.array([30, 10, 20]), np.array([10, 20, 99, 30]))
    assert scores.tolist() == [-1.0, -2.0, -3.0, 0.0]
