"""The temporal split and the promotion rule."""

import pytest

from training.split import SplitConfig, temporal_split


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
