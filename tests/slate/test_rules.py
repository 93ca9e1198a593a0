"""Slate rules on hand-written arrays: seen filter, category cap, greedy and sampled slates."""

import numpy as np
import pytest

from simulator.generate import plackett_luce_propensities
from slate.rules import draw_slate, logits, rank_candidates, unseen_mask


def test_unseen_mask_drops_consumed_items():
    assert unseen_mask(np.array([5, 6, 7, 8]), [6, 8, 99]).tolist() == [True, False, True, False]
    assert unseen_mask(np.array([5, 6]), set()).tolist() == [True, True]


def test_greedy_slate_caps_items_per_category():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    categories = np.array([1, 1, 1, 2, 2, 3])
    slate = draw_slate(scores, categories, np.ones(6, bool), k=4, max_per_category=2)
    assert slate.positions.tolist() == [0, 1, 3, 4]  # the third item of category 1 is capped out
    assert slate.propensities.tolist() == [1.0, 1.0, 1.0, 1.0]
    uncapped = draw_slate(scores, categories, np.ones(6, bool), k=4, max_per_category=None)
    assert uncapped.positions.tolist() == [0, 1, 2, 3]


def test_slate_respects_eligibility_and_returns_fewer_when_the_cap_runs_out():
    scores = np.array([0.9, 0.8, 0.7])
    slate = draw_slate(scores, np.array([1, 1, 1]), np.array([False, True, True]), k=3, max_per_category=1)
    assert slate.positions.tolist() == [1]


def test_sampled_slate_logs_plackett_luce_propensities():
    scores = np.array([0.6, 0.3, 0.1])
    slate = draw_slate(scores, np.array([1, 2, 3]), np.ones(3, bool), 3, None, temperature=1.0,
                       rng=np.random.default_rng(0))  # fmt: skip
    probabilities = np.exp(logits(scores)) / np.exp(logits(scores)).sum()
    expected = plackett_luce_propensities(probabilities[None, :], slate.positions[None, :])[0]
    np.testing.assert_allclose(slate.propensities, expected, rtol=1e-9)
    assert sorted(slate.positions.tolist()) == [0, 1, 2]


def test_slate_rejects_bad_settings():
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        draw_slate(np.ones(2), np.ones(2), np.ones(2, bool), 1, None, temperature=-1)
    with pytest.raises(ValueError, match="needs a random generator"):
        draw_slate(np.ones(2), np.ones(2), np.ones(2, bool), 1, None, temperature=0.5)
    with pytest.raises(ValueError, match="max_per_category must be >= 1"):
        draw_slate(np.ones(2), np.ones(2), np.ones(2, bool), 1, 0)


def test_rank_candidates_drops_seen_items_caps_categories_and_breaks_ties_by_retrieval_order():
    items = np.array([10, 11, 12, 13, 14, 15])
    order = np.array([0.9, 0.5, 0.5, 0.7, 0.5, 0.1])  # 11, 12 and 14 tie
    categories = np.array([1, 2, 2, 1, 2, 3])
    positions = rank_candidates(items, order, categories, seen={13}, k=5, max_per_category=2)
    assert items[positions].tolist() == [10, 11, 12, 15]  # 13 seen; 14 capped (category 2 full); ties keep order
