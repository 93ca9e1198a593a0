"""Holdout metrics for all users and separately for warm and cold users, on hand-written lists."""

import numpy as np
import pandas as pd
import pytest

from evaluation.lists import evaluate_populations, holdout_truth, metrics_table


def test_warm_and_cold_users_are_scored_separately():
    clicks = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 20, 30]})
    truth = holdout_truth(clicks, earlier_users=np.array([1, 3, 99]))  # user 2 is new in the holdout
    lists = {"model": np.array([[10, 11], [21, 22], [31, 30]])}  # hit at rank 1, miss, hit at rank 2
    by_population = evaluate_populations(lists, truth)
    assert truth.warm.tolist() == [True, False, True]
    assert by_population["all"]["model"].users == 3 and by_population["all"]["model"].hit_rate == pytest.approx(2 / 3)
    warm = by_population["warm"]["model"]
    assert warm.users == 2 and warm.ndcg == pytest.approx((1 + 1 / np.log2(3)) / 2)
    cold = by_population["cold"]["model"]
    assert cold.users == 1 and cold.hit_rate == 0.0
    table = metrics_table({"challenger v1": by_population}, k=2)
    assert table[["population", "users"]].values.tolist() == [["all", 3], ["warm", 2], ["cold", 1]]


def test_without_known_history_only_all_users_are_reported():
    truth = holdout_truth(pd.DataFrame({"user_id": [1], "item_id": [10]}))
    assert list(evaluate_populations({"model": np.array([[10]])}, truth)) == ["all"]
