"""Ranking metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from training.metrics import hit_matrix, ranking_metrics


def test_hit_matrix_marks_relevant_positions_and_ignores_padding():
    ranked = np.array([[5, 7, -1], [1, 2, 3]])
    hits = hit_matrix(ranked, np.array([0, 1, 1]), np.array([7, 3, 9]))
    assert hits.tolist() == [[False, True, False], [False, False, True]]


def test_ndcg_recall_hr_mrr_exact():
    # user 0: relevant {7}, found at rank 2; user 1: relevant {1, 3}, found at ranks 1 and 3.
    ranked = np.array([[5, 7, 8], [1, 2, 3]])
    metrics = ranking_metrics(ranked, np.array([0, 1, 1]), np.array([7, 1, 3]))
    ndcg_user0 = (1 / math.log2(3)) / 1.0
    ndcg_user1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg == pytest.approx((ndcg_user0 + ndcg_user1) / 2)
    assert metrics.recall == pytest.approx((1.0 + 1.0) / 2)
    assert metrics.hit_rate == 1.0
    assert metrics.mrr == pytest.approx((1 / 2 + 1) / 2)
    assert metrics.users == 2


def test_misses_and_users_without_relevance():
    ranked = np.array([[1, 2], [3, 4], [5, 6]])
    # Row 2 has no relevant item and is not scored at all.
    metrics = ranking_metrics(ranked, np.array([0, 1, 1, 1]), np.array([9, 4, 8, 7]))
    assert metrics.users == 2
    assert metrics.ndcg == pytest.approx((0.0 + (1 / math.log2(3)) / (1 + 1 / math.log2(3))) / 2)
    assert metrics.recall == pytest.approx((0.0 + 1 / 3) / 2)
    assert metrics.hit_rate == 0.5


def test_duplicate_relevance_pairs_count_once():
    metrics = ranking_metrics(np.array([[1, 2]]), np.array([0, 0]), np.array([2, 2]))
    assert metrics.recall == 1.0
