"""Thresholds fitted on a feed's own history: the tail estimate, the floor, weekdays, the
out-of-sample rolling fit, and the statistic each rule is fitted on."""

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from quality.all_rules import RULES
from quality.calibrate import Budget, Feed, calibrate, fit_thresholds, rolling_evaluation, rolling_thresholds
from quality.calibration_file import is_fitted, render, write_fitted
from quality.calibration_targets import TARGETS, day_statistics
from quality.profile import profile_partition
from quality.tail_fit import tail_threshold, weekday_thresholds
from quality.threshold_fit import fit_target
from quality.thresholds import load_thresholds, on_day
from tests.conftest import raw_rows

H5 = 137 / 60  # 1 + 1/2 + 1/3 + 1/4 + 1/5
TARGET = {target.name: target for target in TARGETS}


def _days(first: str, n: int) -> list[str]:
    start = date.fromisoformat(first)
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def _rate_profile(day: str, duplicates: int) -> dict:
    """Just what the reference-free rate rules read: 1000 rows landed, ``duplicates`` of them replays."""
    return {
        "date": day,
        "rows_landed": 1000,
        "rows": 1000 - duplicates,
        "duplicates": duplicates,
        "late": 0,
        "future": 0,
    }


def _rate_defaults() -> dict:
    """The repository thresholds with a reference no history here reaches: only rate rules run."""
    defaults = {name: dict(section) for name, section in load_thresholds().items()}
    defaults["reference"]["min_days"] = 1_000
    return defaults


def test_the_tail_is_exponential_above_the_top_fifth():
    # 20 values 0..19: k = 5 excesses over u = 14 (5, 4, 3, 2, 1); beta leaves out the largest and
    # divides by k - H_k, so beta = (4 + 3 + 2 + 1) / (5 - H_5); the level is u + beta ln(k / (n p)).
    assert tail_threshold(range(20), 0.001) == pytest.approx(14 + 10 / (5 - H5) * math.log(5 / (20 * 0.001)))


def test_one_bad_day_in_the_history_does_not_widen_the_tail():
    values = [*range(19), 1_000_000]
    assert tail_threshold(values, 0.001) == pytest.approx(tail_threshold(range(20), 0.001))


def test_inside_the_history_the_tail_is_the_empirical_quantile():
    assert tail_threshold(range(10), 0.6) == pytest.approx(3.6)  # n p = 6 >= k = 5
    assert tail_threshold([3.0, 1.0, 2.0], 0.001) == 3.0  # too few values for a tail: the largest


def test_each_weekday_keeps_its_level_and_shares_the_pooled_tail():
    # Mondays always 10, Tuesdays always 20: no day strays from its weekday's level, so the tail adds 0.
    values = [(0, 10.0)] * 3 + [(1, 20.0)] * 4
    levels = weekday_thresholds(values, 0.001)
    assert levels == {0: 10.0, 1: 20.0, 2: 20.0, 3: 20.0, 4: 20.0, 5: 20.0, 6: 20.0}  # too few days: pooled median
    # Monday's level is 10 (residuals 0, 0, 6); the lone Tuesday takes the pooled median 13 (residual 7).
    # Four residuals are too few for a tail: the largest, 7, is added to every weekday's level.
    levels = weekday_thresholds([(0, 10.0), (0, 10.0), (0, 16.0), (1, 20.0)], 0.001)
    assert (levels[0], levels[1], levels[2]) == (17.0, 20.0, 20.0)


def test_volume_is_fitted_per_weekday_and_only_widens_the_default():
    # Three weeks: Mondays land 4x their weekday's reference median, other days exactly 1x.
    days = _days("2026-01-05", 21)  # 2026-01-05 is a Monday
    history = {day: 4.0 if date.fromisoformat(day).weekday() == 0 else 1.0 for day in days}
    fitted = fit_target(TARGET["volume.max_ratio"], history, 2.0, 1e-4)
    assert fitted.by_weekday == {"mon": 4.0, "tue": 2.0, "wed": 2.0, "thu": 2.0, "fri": 2.0, "sat": 2.0, "sun": 2.0}
    assert fitted.value == 4.0 and fitted.status == "fitted"  # a reader of the plain value gets the loosest weekday
    low = fit_target(TARGET["volume.min_ratio"], history, 0.5, 1e-4)
    assert low.value == 0.5 and low.status == "default kept"  # the history never dropped: the default stays


def test_duplicate_rate_is_fitted_from_its_history_within_the_budget():
    days = _days("2026-03-02", 20)
    feed = Feed({day: _rate_profile(day, i) for i, day in enumerate(days)})  # rates 0, 0.001, ..., 0.019
    budget = Budget(weeks=3, alarms_per_quarter=1.0)
    calibration = calibrate(feed, _rate_defaults(), days[-1], budget)
    p = 1.0 / 91 / len(TARGETS)
    assert budget.tail_probability == pytest.approx(p)
    estimate = (14 + 10 / (5 - H5) * math.log(5 / (20 * p))) / 1000
    fitted = {f.name: f for f in calibration.fitted}["duplicate_rate.max_rate"]
    assert fitted.estimate == pytest.approx(estimate)
    assert fitted.value == math.ceil(estimate * 1e5) / 1e5  # four significant digits, rounded up
    assert calibration.thresholds["duplicate_rate"]["max_rate"] == fitted.value
    assert fitted.days == 20 and calibration.fit_days == tuple(days)
    late = {f.name: f for f in calibration.fitted}["late_events.max_rate"]
    assert (late.value, late.status) == (0.002, "default kept")  # always 0: the default is the floor
    never = {f.name: f for f in calibration.fitted}["volume.max_ratio"]
    assert (never.value, never.status) == (2.0, "too little history")  # never evaluated here
    assert all(calibration.thresholds[rule]["enabled"] for rule in RULES)


def test_the_rolling_fit_for_a_day_reads_only_earlier_days():
    days = _days("2026-03-02", 30)
    profiles = {day: _rate_profile(day, i % 3) for i, day in enumerate(days)}
    feed, defaults, budget = Feed(profiles), _rate_defaults(), Budget(weeks=5, widen_only=False)
    evaluated = days[20:]
    before = rolling_thresholds(feed, evaluated, defaults, budget)
    for i, day in enumerate(evaluated):
        stats = {d: {"duplicate_rate.max_rate": profiles[d]["duplicates"] / 1000} for d in days[: 20 + i]}
        expected = fit_thresholds(stats, list(stats), defaults, budget).thresholds["duplicate_rate"]["max_rate"]
        assert before[day]["duplicate_rate"]["max_rate"] == expected
    # Corrupting day 25 and every later day changes nothing in the thresholds of days up to 25.
    spoiled = Feed({**profiles, **{day: _rate_profile(day, 900) for day in days[25:]}})
    after = rolling_thresholds(spoiled, evaluated, defaults, budget)
    assert all(after[day] == before[day] for day in days[20:26])
    assert after[days[26]] == before[days[26]]  # one bad day in the history: the tail ignores it
    assert after[days[27]]["duplicate_rate"]["max_rate"] > before[days[27]]["duplicate_rate"]["max_rate"]


def test_rolling_evaluation_flags_the_day_that_leaves_its_own_history():
    days = _days("2026-03-02", 30)
    profiles = {day: _rate_profile(day, i % 3) for i, day in enumerate(days)}
    profiles[days[25]] = _rate_profile(days[25], 50)  # 5% replays on a feed that never exceeded 0.2%
    evaluations = rolling_evaluation(Feed(profiles), days[20:], _rate_defaults(), Budget(weeks=4))
    assert [(e.day, e.alarms) for e in evaluations if e.alarms] == [(days[25], ["duplicate_rate"])]


def test_per_weekday_values_are_in_force_on_their_weekday():
    thresholds = {"volume": {"max_ratio": 4.0, "by_weekday": {"mon": {"max_ratio": 3.0}}}, "reference": {}}
    assert on_day(thresholds, "2026-01-05")["volume"]["max_ratio"] == 3.0  # a Monday
    assert on_day(thresholds, "2026-01-06")["volume"]["max_ratio"] == 4.0


def _frame(day: str, rng: np.random.Generator, sessions: int = 60) -> pd.DataFrame:
    """A small day of slates of 4 impressions and one click, from 40 users over 30 items."""
    rows, event = [], 0
    for s in range(sessions):
        user = int(rng.integers(1, 41))
        start = pd.Timestamp(day, tz="UTC") + pd.Timedelta(seconds=int(rng.integers(0, 86_000)))
        items = rng.choice(np.arange(1, 31), size=4, replace=False)
        for position, item in enumerate(items, start=1):
            rows.append((f"{day}-{event}", start, user, int(item), "impression", position, 0.25, 0.0, f"{day}-s{s}"))
            event += 1
        clicked_at, timespent = start + pd.Timedelta(seconds=5), float(rng.integers(10, 300))
        rows.append((f"{day}-{event}", clicked_at, user, int(items[0]), "click", 1, 0.25, timespent, f"{day}-s{s}"))
        event += 1
    return raw_rows(rows)


def test_each_statistic_sits_exactly_where_its_rule_flips():
    """For every threshold key: just on the alarm side of the day's statistic the rule fails, just
    on the other side it passes, so the fitted number is the one the rule compares."""
    rng = np.random.default_rng(3)
    days = _days("2026-01-05", 9)
    durations = pd.Series(100.0, index=range(1, 31))
    profiles = {}
    for day in days:
        frame = _frame(day, rng, sessions=60 if day != days[-1] else 45)
        profiles[day] = profile_partition(frame, frame, day, durations) | {"stored_elsewhere": 0}
    limits = {name: dict(section) for name, section in load_thresholds().items()}
    for rule, key in [("item_popularity", "min_items"), ("active_users", "min_users"), ("user_activity", "min_users")]:
        limits[rule][key] = 5
    limits["item_popularity"]["min_impressions"] = 1
    reference, today = [profiles[d] for d in days[:-1]], profiles[days[-1]]
    stats = day_statistics(today, reference, limits)
    checked = []
    for target in TARGETS:
        value = stats.get(target.name)
        if value is None or value == 0:
            continue  # 0: no value of this key could make the day fail
        step = 1 if target.integer else 1e-9 * max(1.0, abs(value))
        alarm = value - step if target.tail == "upper" else value + step
        section = dict(limits[target.rule])
        for sibling in TARGETS:  # the rule's other keys out of the way (user_distribution's limit is their max)
            if sibling.rule == target.rule and sibling.key != target.key:
                loose = 0.0 if target.rule == "user_distribution" else math.inf
                section[sibling.key] = loose if sibling.tail == "upper" else -loose
        function = RULES[target.rule][0]
        assert not function(today, reference, {**limits, target.rule: {**section, target.key: alarm}}).passed, target
        assert function(today, reference, {**limits, target.rule: {**section, target.key: value}}).passed, target
        checked.append(target.name)
    semantic = {"item_popularity.min_spearman", "active_users.min_seen_share", "user_activity.min_z"}
    assert semantic | {"volume.max_ratio", "numeric_drift.max_psi", "user_distribution.noise_factor"} <= set(checked)


def test_the_written_file_records_what_it_was_fitted_on(tmp_path):
    days = _days("2026-03-02", 20)
    feed = Feed({day: _rate_profile(day, i) for i, day in enumerate(days)})
    calibration = calibrate(feed, _rate_defaults(), days[-1], Budget(weeks=3, alarms_per_quarter=2.0))
    text = render(calibration, "2026-03-21T00:00:00+00:00")
    assert "# fitted on: 20 days, 2026-03-02..2026-03-21 (the 3 weeks up to 2026-03-21)" in text
    assert "# budget: 2 false alarm(s) per quarter across all rules" in text
    assert "# fitted at: 2026-03-21T00:00:00+00:00" in text
    path = write_fitted(tmp_path, calibration, "2026-03-21T00:00:00+00:00")
    assert is_fitted(path) and not is_fitted(tmp_path / "absent.yaml")
    (tmp_path / "hand.yaml").write_text("volume: {max_ratio: 3}\n")
    assert not is_fitted(tmp_path / "hand.yaml")
