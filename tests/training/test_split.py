"""The temporal split and the promotion rule."""

import pandas as pd
import pytest

from training.split import ImportedHoldout, SplitConfig, imported_holdout_start, temporal_split


def _days(n: int) -> list[str]:
    return [f"2026-01-{d:02d}" for d in range(1, n + 1)]


def test_split_boundaries():
    split = temporal_split(_days(20), SplitConfig(holdout_days=3, ranker_days=5, min_sasrec_days=7))
    assert split.as_dict() == {
        "first_day": "2026-01-01",
        "ranker_start": "2026-01-13",
        "holdout_start": "2026-01-18",
        "last_day": "2026-01-20",
    }
    assert str(split.holdout_start_ts) == "2026-01-18 00:00:00+00:00"
    assert str(split.end_ts) == "2026-01-21 00:00:00+00:00"


def test_split_refuses_too_few_days():
    with pytest.raises(ValueError, match=r"needs at least 15 accepted days .* got 14"):
        temporal_split(_days(14), SplitConfig(holdout_days=3, ranker_days=5, min_sasrec_days=7))


def _interactions() -> pd.DataFrame:
    """20 interactions over 10 days: u1 daily, u2 on days 1 and 9, u3 on day 10 only, u4 on days 2-8."""
    rows = [(1, d) for d in range(1, 11)] + [(2, 1), (2, 9), (3, 10)] + [(4, d) for d in range(2, 9)]
    return pd.DataFrame({"user_id": [u for u, _ in rows], "day": [f"2026-01-{d:02d}" for _, d in rows]})


def test_imported_holdout_is_the_last_tenth_of_interactions_when_enough_users_are_warm():
    assert imported_holdout_start(_interactions(), ImportedHoldout(min_warm_users=1)) == "2026-01-10"


def test_imported_holdout_moves_earlier_until_it_covers_enough_warm_users():
    # day 10 alone: only u1 is warm (u3 has no history); from day 9, u1 and u2 are
    assert imported_holdout_start(_interactions(), ImportedHoldout(min_warm_users=2)) == "2026-01-09"


def test_imported_holdout_stops_at_the_largest_share():
    # day 9 onwards holds 4 of 20 interactions (20%), over a 15% cap: the cut-off stays on day 10
    assert imported_holdout_start(_interactions(), ImportedHoldout(min_warm_users=2, max_share=0.15)) == "2026-01-10"


def test_a_given_holdout_start_sets_the_holdout_and_the_ranker_window_before_it():
    days = [f"2026-01-{d:02d}" for d in range(1, 11)]
    split = temporal_split(days, SplitConfig(holdout_days=7, ranker_days=2, min_sasrec_days=1), "2026-01-09")
    assert (split.ranker_start, split.holdout_start, split.last_day) == ("2026-01-07", "2026-01-09", "2026-01-10")
