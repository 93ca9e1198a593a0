"""Thresholds learned from a feed's own history, within a family-wise false-alarm budget.

Each rule's statistic is computed on every history day against that day's own trailing
reference (``run_checks``'s window: ``reference.window_days`` earlier usable days), and each
threshold key is set where its statistic's tail (``quality.tail_fit``: exponential peaks over
threshold) puts a probability of ``A / 91 / n`` on one day, for ``A`` alarms per quarter shared
by the ``n`` threshold keys. That is Bonferroni: the rules' statistics are far from independent
(a quiet day moves several at once), and a union bound holds whatever their dependence. Volume
and partial partitions are fitted per weekday (each weekday's level, the tail pooled).

The defaults are the floor (``quality.threshold_fit``): a fitted threshold only widens one.
Fit samples are the days the contract accepted on its own: a day someone had to accept with an
override (an empty day of an imported dump) is not a normal day, though it stays in the
reference window as it does in ``run_checks``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from quality.all_rules import RULES, evaluate
from quality.calibration_targets import TARGETS, day_statistics
from quality.rule_result import Profile, RuleResult, Thresholds
from quality.threshold_fit import FittedThreshold, fit_target
from quality.thresholds import on_day

DAYS_PER_QUARTER = 91
DEFAULT_WEEKS = 26  # half a year: days enough for a tail, recent enough to follow the feed

Statistics = dict[str, dict[str, float]]  # day -> target name -> statistic


@dataclass(frozen=True)
class Feed:
    """A feed's stored profiles (date -> profile) and which of its days count for what."""

    profiles: dict[str, Profile]
    usable: frozenset[str] | None = None  # reference days, as run_checks reads them (None: every day)
    normal: frozenset[str] | None = None  # days a fit may learn from (None: every usable day)

    def reference_days(self, day: str, window_days: int) -> list[str]:
        """The usable days within ``window_days`` before ``day``."""
        first = (date.fromisoformat(day) - timedelta(days=window_days)).isoformat()
        return [d for d in sorted(self.profiles) if first <= d < day and (self.usable is None or d in self.usable)]

    def reference(self, day: str, window_days: int) -> list[Profile]:
        return [self.profiles[d] for d in self.reference_days(day, window_days)]

    def is_normal(self, day: str) -> bool:
        if day not in self.profiles or (self.usable is not None and day not in self.usable):
            return False
        return self.normal is None or day in self.normal


@dataclass(frozen=True)
class Budget:
    """How many weeks to fit on, how many false alarms per quarter all rules may raise together,
    and whether a fit may tighten a default."""

    weeks: int = DEFAULT_WEEKS
    alarms_per_quarter: float = 1.0
    widen_only: bool = True

    @property
    def tail_probability(self) -> float:
        """Per-threshold probability of a false alarm on one day (Bonferroni over every key)."""
        if self.alarms_per_quarter <= 0:
            raise ValueError(f"alarms per quarter must be positive; got {self.alarms_per_quarter}")
        return self.alarms_per_quarter / DAYS_PER_QUARTER / len(TARGETS)


def statistics(feed: Feed, days: Iterable[str], thresholds: Thresholds) -> Statistics:
    """Every target's statistic on each normal day of ``days`` against its own trailing reference."""
    window = thresholds["reference"]["window_days"]
    return {
        day: day_statistics(feed.profiles[day], feed.reference(day, window), thresholds)
        for day in days
        if feed.is_normal(day)
    }


@dataclass(frozen=True)
class Calibration:
    """Fitted thresholds and what they were fitted on."""

    thresholds: Thresholds  # the defaults, every rule enabled, every fitted value in place
    fitted: tuple[FittedThreshold, ...]
    fit_days: tuple[str, ...]
    budget: Budget


def fit_thresholds(stats: Statistics, fit_days: Iterable[str], defaults: Thresholds, budget: Budget) -> Calibration:
    """Every target fitted on the statistics of ``fit_days``."""
    days = tuple(sorted(day for day in fit_days if day in stats))
    thresholds = {name: dict(section) for name, section in defaults.items()}
    for rule in RULES:
        thresholds[rule]["enabled"] = True
    fitted = []
    for target in TARGETS:
        history = {day: stats[day][target.name] for day in days if target.name in stats[day]}
        default = float(defaults[target.rule][target.key])
        result = fit_target(target, history, default, budget.tail_probability, budget.widen_only)
        fitted.append(result)
        thresholds[target.rule][target.key] = result.value
        if result.by_weekday is not None:
            weekdays = thresholds[target.rule].setdefault("by_weekday", {})
            for weekday, value in result.by_weekday.items():
                weekdays.setdefault(weekday, {})[target.key] = value
    return Calibration(thresholds, tuple(fitted), days, budget)


def fit_window(days: Iterable[str], until: str, weeks: int) -> list[str]:
    """The days of ``days`` in the ``weeks`` weeks that end on ``until`` (inclusive)."""
    first = (date.fromisoformat(until) - timedelta(days=7 * weeks - 1)).isoformat()
    return sorted(d for d in days if first <= d <= until)


def calibrate(feed: Feed, defaults: Thresholds, until: str, budget: Budget = Budget()) -> Calibration:
    """Thresholds fitted on the ``budget.weeks`` weeks of history that end on ``until``."""
    days = fit_window(feed.profiles, until, budget.weeks)
    return fit_thresholds(statistics(feed, days, defaults), days, defaults, budget)


def rolling_thresholds(
    feed: Feed, days: Iterable[str], defaults: Thresholds, budget: Budget = Budget()
) -> dict[str, Thresholds]:
    """For each day D of ``days``: the thresholds fitted only on the ``budget.weeks`` weeks before
    D, as in force on D's weekday. Out of sample: D's own statistic never enters D's fit."""
    days = sorted(days)
    if not days:
        return {}
    first = (date.fromisoformat(days[0]) - timedelta(days=7 * budget.weeks)).isoformat()
    stats = statistics(feed, [d for d in feed.profiles if first <= d < days[-1]], defaults)
    rolling = {}
    for day in days:
        before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        calibration = fit_thresholds(stats, fit_window(stats, before, budget.weeks), defaults, budget)
        rolling[day] = on_day(calibration.thresholds, day)
    return rolling


@dataclass(frozen=True)
class DayEvaluation:
    """Every rule on one day, with the thresholds fitted on the days before it."""

    day: str
    thresholds: Thresholds  # as in force on that day
    results: dict[str, RuleResult]

    @property
    def alarms(self) -> list[str]:
        return [rule for rule, result in self.results.items() if not result.passed]


def evaluate_day(feed: Feed, day: str, profile: Profile, thresholds: Thresholds) -> DayEvaluation:
    """Every rule on ``profile`` (``day``'s, or a corrupted copy of it) against ``day``'s reference."""
    reference = feed.reference(day, thresholds["reference"]["window_days"])
    return DayEvaluation(day, thresholds, {rule: evaluate(rule, profile, reference, thresholds) for rule in RULES})


def rolling_evaluation(
    feed: Feed, days: Iterable[str], defaults: Thresholds, budget: Budget = Budget()
) -> list[DayEvaluation]:
    """Every rule on each of ``days``, each day judged by thresholds fitted on earlier days only."""
    thresholds = rolling_thresholds(feed, days, defaults, budget)
    return [evaluate_day(feed, day, feed.profiles[day], limits) for day, limits in thresholds.items()]
