"""Feature-level checks on hand-made frames."""

import pandas as pd

from quality.feature_checks import constant_features


def test_a_feature_constant_today_that_varied_every_day_before_is_named():
    history = [pd.DataFrame({"a": [1, 2] * 10, "b": [0, 0] * 10, "c": [1, 2] * 10}) for _ in range(3)]
    today = pd.DataFrame({"a": [5, 5] * 10, "b": [0, 0] * 10, "c": [1, 3] * 10})
    assert constant_features(today, history, ["a", "b", "c"]) == ["a"]  # b was always constant
    assert constant_features(today.head(19), history, ["a"]) == []  # 19 values can agree by chance
    ratio = [pd.DataFrame({"r": [0.2, None] * 10}) for _ in range(3)]  # null only where the denominator is 0
    assert constant_features(pd.DataFrame({"r": [0.2, 0.2] * 10}), ratio, ["r"]) == []


def test_future_leak_counts_rows_whose_last_event_is_after_the_day():
    from quality.feature_checks import future_leak

    end = pd.Timestamp("2026-01-06", tz="UTC").timestamp()
    frame = pd.DataFrame({"user_last_event_ts": [end - 1.0, end, end + 60.0, None]})
    rows, latest = future_leak(frame, "2026-01-05")
    assert (rows, latest) == (2, end + 60.0)
