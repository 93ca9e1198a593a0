"""One threshold key fitted on its statistic's history: scale, tail, rounding and the floor.

The repository's defaults are the floor: a fitted threshold may widen a default, never tighten
it (``widen_only``). The defaults are set so each incident kind is caught on a live feed; a few
months of history cannot prove a tighter limit safe at a tail probability of ~1e-4, while they
can show a default too tight for this feed. A caller that wants tightening passes
``widen_only=False``. A key whose statistic is defined on fewer than ``MIN_FIT_DAYS`` days keeps
its default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from quality.calibration_targets import LOG_CLIP, Target
from quality.tail_fit import tail_threshold, weekday_thresholds
from quality.thresholds import WEEKDAYS

MIN_FIT_DAYS = 7  # fewer days with a statistic: the threshold keeps its default
SIGNIFICANT_DIGITS = 4


@dataclass(frozen=True)
class FittedThreshold:
    """One threshold key: its default, the value in force, and what the history said."""

    rule: str
    key: str
    default: float
    value: float  # read by every weekday unless by_weekday has the day's own value
    by_weekday: dict[str, float] | None
    days: int  # history days on which the statistic was defined
    estimate: float | None  # the tail estimate before rounding, the floor and the domain (None: no fit)
    status: str  # fitted | default kept | too little history | off

    @property
    def name(self) -> str:
        return f"{self.rule}.{self.key}"


def to_fit_scale(target: Target, value: float) -> float:
    """The statistic on the scale where the alarm side is the large side."""
    if target.log:
        value = math.log(min(max(value, LOG_CLIP[0]), LOG_CLIP[1]))
    return value if target.tail == "upper" else -value


def from_fit_scale(target: Target, value: float) -> float:
    value = value if target.tail == "upper" else -value
    return math.exp(value) if target.log else value


def safe_round(target: Target, value: float) -> float:
    """Rounded for the file, on the side that never adds an alarm (a count: down to whole units,
    since the rule fails above it)."""
    if target.integer:
        return float(math.floor(value + 1e-9)) if target.tail == "upper" else float(math.ceil(value - 1e-9))
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10.0 ** (SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))
    # A hair of tolerance, so exp(log(4.0)) = 4.0000000000000004 stays 4, not 4.001.
    rounded = math.ceil(value * scale - 1e-6) if target.tail == "upper" else math.floor(value * scale + 1e-6)
    return rounded / scale


def in_force(target: Target, default: float, estimate: float, widen_only: bool = True) -> float:
    """The estimate rounded, no tighter than the default (when ``widen_only``), within the domain."""
    value = safe_round(target, estimate)
    if widen_only:
        value = max(value, default) if target.tail == "upper" else min(value, default)
    low, high = target.domain
    return min(max(value, low), high)


def status(target: Target, default: float, value: float) -> str:
    never_fires = value >= target.domain[1] if target.tail == "upper" else value <= target.domain[0]
    if never_fires and value != default:
        return "off"  # the history's own noise covers the statistic's whole range
    return "fitted" if value != default else "default kept"


def fit_target(
    target: Target, history: dict[str, float], default: float, p: float, widen_only: bool = True
) -> FittedThreshold:
    """``target`` fitted on ``history`` (day -> statistic) at tail probability ``p`` per day."""
    if len(history) < MIN_FIT_DAYS:
        return FittedThreshold(
            target.rule, target.key, default, default, None, len(history), None, "too little history"
        )
    if target.weekday:
        points = [(date.fromisoformat(day).weekday(), to_fit_scale(target, v)) for day, v in history.items()]
        per_day = {WEEKDAYS[w]: from_fit_scale(target, t) for w, t in weekday_thresholds(points, p).items()}
        by_weekday = {name: in_force(target, default, t, widen_only) for name, t in per_day.items()}
        # A reader that ignores by_weekday gets the loosest weekday: no weekday alarms more than fitted.
        loosest = max if target.tail == "upper" else min
        estimate, value = loosest(per_day.values()), loosest(by_weekday.values())
    else:
        estimate = from_fit_scale(target, tail_threshold([to_fit_scale(target, v) for v in history.values()], p))
        by_weekday, value = None, in_force(target, default, estimate, widen_only)
    return FittedThreshold(
        target.rule, target.key, default, value, by_weekday, len(history), estimate, status(target, default, value)
    )
