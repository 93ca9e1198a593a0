"""Feature-level checks on hand-made frames."""

import pandas as pd

from quality.feature_checks import constant_features


def test_a_feature_constant_today_that_varied_every_day_before_is_named():
    history = [pd.DataFrame({"a": [1, 2], "b": [0, 0], "c": [1, 2]}) for _ in range(3)]
    today = pd.DataFrame({"a": [5, 5], "b": [0, 0], "c": [1, 3]})
    assert constant_features(today, history, ["a", "b", "c"]) == ["a"]  # b was always constant
    assert constant_features(today.head(1), history, ["a"]) == []  # one row is trivially constant
