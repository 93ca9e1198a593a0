"""A/B effects: point values, bootstrap CIs that cover, verdicts, Wilson intervals."""

import numpy as np
import pytest

from evaluation.online_effects import LOSS, NO_DIFFERENCE, WIN, mean_effect, ratio_effect, verdict, wilson_interval


def test_verdict_needs_the_ci_to_exclude_zero():
    assert verdict(0.1, 0.3) == WIN
    assert verdict(-0.3, -0.1) == LOSS
    assert verdict(-0.1, 0.3) == NO_DIFFERENCE


def test_ratio_effect_point_values_by_hand():
    # control: 3 clicks / 10 impressions; treatment: 6 / 12.
    effect = ratio_effect("ctr", (np.array([1, 2]), np.array([5, 5])), (np.array([3, 3]), np.array([6, 6])))
    assert effect.control == pytest.approx(0.3)
    assert effect.treatment == pytest.approx(0.5)
    assert effect.diff == pytest.approx(0.2)
    assert effect.relative == pytest.approx(0.5 / 0.3 - 1)
    assert (effect.n_control, effect.n_treatment) == (2, 2)


def test_mean_effect_detects_a_real_lift_and_not_a_null_one():
    rng = np.random.default_rng(3)
    control = rng.exponential(10.0, size=2_000)
    lifted = mean_effect("timespent", control, rng.exponential(12.0, size=2_000))
    assert lifted.verdict == WIN and lifted.ci_low < 2.0 < lifted.ci_high
    null = mean_effect("timespent", control, rng.exponential(10.0, size=2_000))
    assert null.verdict == NO_DIFFERENCE


def test_an_empty_arm_is_refused():
    with pytest.raises(ValueError, match="no users"):
        mean_effect("x", np.array([]), np.array([1.0]))


def test_wilson_interval_by_hand():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == pytest.approx(0.0, abs=1e-12)
