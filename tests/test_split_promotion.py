"""The temporal split and the promotion rule."""

import math

import pytest

from training.promotion import decide_promotion
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


def test_first_candidate_is_promoted():
    decision = decide_promotion(1, 0.2, None, None)
    assert decision.promote and decision.reason == "no champion yet; candidate v1 ndcg_at_10=0.2000"


def test_better_candidate_is_promoted_and_worse_refused():
    assert decide_promotion(3, 0.25, 2, 0.20).promote
    refused = decide_promotion(3, 0.19, 2, 0.20)
    assert not refused.promote
    assert refused.reason == "candidate v3 ndcg_at_10=0.1900 does not beat champion v2 0.2000 (delta -0.0100 <= 0.0)"


def test_tie_and_nan_are_refused():
    assert not decide_promotion(3, 0.2, 2, 0.2).promote
    nan = decide_promotion(3, math.nan, None, None)
    assert not nan.promote and "not finite" in nan.reason
