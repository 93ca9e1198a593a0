"""Ranker data preparation, training and the ranking helpers."""

import numpy as np
import pandas as pd

from training.ranker.dataset import labelled_impressions, sessions_with_clicks
from training.topk import popular_items, top_k_by_score


def test_labelled_impressions_from_tiny_log(tiny_raw):
    labelled = labelled_impressions(tiny_raw)
    assert labelled[["session_id", "item_id", "label"]].values.tolist() == [
        ["s1", 10, 1],
        ["s1", 11, 0],
        ["s2", 11, 0],
        ["s2", 12, 1],
    ]


def test_sessions_without_contrast_are_dropped():
    frame = pd.DataFrame({"session_id": ["a", "a", "b", "b", "c"], "label": [1, 0, 0, 0, 1]})
    assert sessions_with_clicks(frame)["session_id"].tolist() == ["a", "a"]


def test_top_k_by_score_orders_within_rows_and_pads():
    out = top_k_by_score(np.array([0, 0, 0, 1]), np.array([7, 8, 9, 4]), np.array([0.1, 0.9, 0.5, 0.3]), n_rows=3, k=2)
    assert out.tolist() == [[8, 9], [4, -1], [-1, -1]]


def test_popular_items_breaks_ties_by_id():
    clicks = pd.DataFrame({"item_id": [5, 3, 3, 5, 1]})
    assert popular_items(clicks, 3).tolist() == [3, 5, 1]


def test_hnsw_retrieval_recall_against_exact_search():
    from training.ranker.bundle import RankerBundle

    rng = np.random.default_rng(0)
    items = rng.normal(size=(2_000, 16)).astype(np.float32)
    bundle = RankerBundle(
        ranker=None,
        features=[],
        embedding_version=1,
        item_ids=np.arange(1, 2_001),
        item_vectors=items,
        item_categories=np.zeros(2_000, dtype=np.int64),
        popular_items=np.array([1]),
    )
    recall = bundle.retrieval_recall(rng.normal(size=(200, 16)), k=200)
    assert recall >= 0.95
    ids, scores = bundle.retrieve(rng.normal(size=(3, 16)), 10)
    assert ids.shape == (3, 10) and (np.diff(scores, axis=1) <= 1e-6).all()  # best first
