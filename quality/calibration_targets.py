"""Which number each rule compares with which threshold key, and in which direction.

Calibration needs a rule's statistic on a normal day even when the rule passes, and some rules
only report it when they fail. So each rule is run once with a *probe*: its limit set where
every day fails (or where passing means the statistic is at its neutral value), and the number
is read from the result's metrics. The rules themselves are not touched: the statistic is
exactly the one the rule would compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from quality.all_rules import RULES
from quality.rule_result import Profile, RuleResult, Thresholds

Tail = Literal["upper", "lower"]  # upper: the rule fails above the threshold; lower: below it
Statistic = Callable[[RuleResult, dict[str, Any]], float | None]  # (probe result, the rule's section)
LOG_CLIP = (1e-9, 1e9)  # a ratio of 0 or infinity is put at these ends before taking its log


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def metric(name: str) -> Statistic:
    """The statistic is reported as ``name`` whenever the rule is evaluated."""
    return lambda result, _: _finite(result.metrics.get(name))


def on_failure(name: str, neutral: float | None, minus: str | None = None) -> Statistic:
    """The probe makes every non-neutral day fail and report ``name`` (less ``minus``); a pass
    means the statistic is at ``neutral`` (None: not evaluated)."""

    def statistic(result: RuleResult, _: dict[str, Any]) -> float | None:
        if result.passed:
            return neutral
        value = _finite(result.metrics.get(name))
        if value is None or minus is None:
            return value
        return value - float(result.metrics[minus])

    return statistic


def missing_hours(result: RuleResult, _: dict[str, Any]) -> float | None:
    listed = result.metrics.get("missing_hours")
    if listed is None:
        return None
    return 0.0 if listed == "none" else float(len(str(listed).split(",")))


def beyond_noise(result: RuleResult, section: dict[str, Any]) -> float | None:
    """user_distribution fails when JS exceeds both max_js and noise_factor x the reference's own
    noise; for max_js the statistic is JS where it is above the noise limit, and 0 where no max_js
    could make the day fail."""
    js, noise = _finite(result.metrics.get("js_divergence")), _finite(result.metrics.get("reference_noise_js"))
    if js is None or noise is None:
        return None
    return js if js > section["noise_factor"] * noise else 0.0


def times_noise(result: RuleResult, section: dict[str, Any]) -> float | None:
    """For noise_factor: JS over the reference's own noise where JS is above max_js, else 0."""
    js, noise = _finite(result.metrics.get("js_divergence")), _finite(result.metrics.get("reference_noise_js"))
    if js is None or not noise:
        return None
    return js / noise if js > section["max_js"] else 0.0


@dataclass(frozen=True)
class Target:
    """One threshold key of one rule, and how its statistic is read and fitted."""

    rule: str
    key: str
    tail: Tail
    statistic: Statistic
    probe: dict[str, Any] = field(default_factory=dict)  # limits that make the rule report its statistic
    log: bool = False  # fitted on log scale: a ratio (a burst and a drop weigh alike), or a share near 0
    weekday: bool = False  # fitted per weekday (level per weekday, tail pooled)
    integer: bool = False  # the rule compares a count: the threshold is rounded down
    domain: tuple[float, float] = (-math.inf, math.inf)  # where the statistic lives; at its edge the rule is off

    @property
    def name(self) -> str:
        return f"{self.rule}.{self.key}"


_rate = metric("rate")
TARGETS: tuple[Target, ...] = (
    Target("volume", "min_ratio", "lower", metric("ratio"), log=True, weekday=True, domain=(0.0, math.inf)),
    Target("volume", "max_ratio", "upper", metric("ratio"), log=True, weekday=True, domain=(0.0, math.inf)),
    Target(
        "null_fraction", "max_increase", "upper", on_failure("null_fraction", 0.0, "allowed"), {"max_increase": 0.0}
    ),
    Target("single_value_share", "max_increase", "upper", on_failure("share", 0.0, "allowed"), {"max_increase": 0.0}),
    Target("range_shift", "max_ratio", "upper", on_failure("factor", 1.0), {"max_ratio": 1.0}, log=True),
    Target("categorical_drift", "max_linf", "upper", on_failure("linf", 0.0), {"max_linf": 0.0}, domain=(0.0, 1.0)),
    Target("numeric_drift", "max_psi", "upper", on_failure("psi", None), {"max_psi": -1.0}, domain=(0.0, math.inf)),
    Target("unknown_ids", "max_share", "upper", metric("share"), domain=(0.0, 1.0)),
    Target("duplicate_rate", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target("late_events", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target("future_timestamps", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target(
        "partial_partition", "max_missing_hours", "upper", missing_hours, weekday=True, integer=True, domain=(0, 24)
    ),
    Target("item_popularity", "min_spearman", "lower", metric("spearman_popularity"), domain=(-1.0, 1.0)),
    Target("item_popularity", "min_ctr_spearman", "lower", metric("spearman_ctr"), domain=(-1.0, 1.0)),
    Target("user_distribution", "max_js", "upper", beyond_noise, domain=(0.0, 1.0)),
    Target("user_distribution", "noise_factor", "upper", times_noise, domain=(0.0, math.inf)),
    Target("active_users", "min_seen_share", "lower", metric("seen_share"), log=True, domain=(0.0, 1.0)),
    Target("user_activity", "min_z", "lower", metric("z")),
    Target("repeated_partition", "max_jaccard", "upper", metric("max_jaccard"), domain=(0.0, 1.0)),
    Target("reused_event_ids", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target("orphan_clicks", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target("click_before_impression", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target("overlong_timespent", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target("long_sessions", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
    Target("slate_positions", "max_rate", "upper", _rate, domain=(0.0, 1.0)),
)
# Rules without a numeric limit (constant_columns): nothing to fit, they run as they are.
UNFITTED = tuple(rule for rule in RULES if rule not in {target.rule for target in TARGETS})


def probed(rule: str, thresholds: Thresholds) -> Thresholds:
    """``thresholds`` with ``rule`` enabled and its probe limits in place."""
    overrides = {key: value for target in TARGETS if target.rule == rule for key, value in target.probe.items()}
    return {**thresholds, rule: {**thresholds[rule], "enabled": True, **overrides}}


def day_statistics(profile: Profile, reference: list[Profile], thresholds: Thresholds) -> dict[str, float]:
    """Every target's statistic on one day against its reference (targets not evaluated are left out)."""
    values: dict[str, float] = {}
    for rule in dict.fromkeys(target.rule for target in TARGETS):
        function, needs_reference = RULES[rule]
        if needs_reference and len(reference) < thresholds["reference"]["min_days"]:
            continue
        limits = probed(rule, thresholds)
        result = function(profile, reference, limits)
        for target in TARGETS:
            if target.rule == rule:
                value = target.statistic(result, limits[rule])
                if value is not None:
                    values[target.name] = value
    return values
