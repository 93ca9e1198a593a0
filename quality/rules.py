"""Statistical rules: one pure function per rule, comparing a partition's profile with the
profiles of a reference window of good partitions.

Each returns a ``RuleResult`` whose description names the partition and the column, and whose
metrics carry the numbers it saw (they become Dagster check metadata).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np

from quality.rule_result import Profile, RuleResult, Thresholds, failed, passed

NEEDS_REFERENCE = True
PSI_EPSILON = 1e-4
SKIP_SHARE_COLUMNS = ("event_id", "ts", "session_id")


def volume(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day, rows = profile["date"], profile["rows_landed"]
    weekday = date.fromisoformat(day).weekday()
    same = [p["rows_landed"] for p in reference if date.fromisoformat(p["date"]).weekday() == weekday]
    basis = same if len(same) >= t["volume"]["min_same_weekday"] else [p["rows_landed"] for p in reference]
    median = float(np.median(basis))
    ratio = rows / median if median else float("inf")
    metrics = {"rows_landed": rows, "reference_median": median, "ratio": ratio, "same_weekday_days": len(same)}
    if t["volume"]["min_ratio"] <= ratio <= t["volume"]["max_ratio"]:
        return passed(day, f"{rows} rows, {ratio:.2f}x the reference median", metrics)
    return failed(day, "event_id", f"{rows} rows landed, {ratio:.2f}x the same-weekday median {median:.0f}", metrics)


def null_fraction(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day, worst = profile["date"], None
    for column, share in profile["null_fraction"].items():
        allowed = (
            max((p["null_fraction"].get(column, 0.0) for p in reference), default=0.0)
            + t["null_fraction"]["max_increase"]
        )
        excess = share - allowed
        if excess > 0 and (worst is None or excess > worst[3]):
            worst = (column, share, allowed, excess)
    if worst is None:
        return passed(day, "null fractions within the reference")
    column, share, allowed, _ = worst
    return failed(
        day, column, f"{share:.2%} nulls, above the allowed {allowed:.2%}", {"null_fraction": share, "allowed": allowed}
    )


def _reference_share(reference: list[Profile], column: str, value: str) -> float:
    """The highest share ``value`` had on a reference day (bounded by that day's 5th share if unlisted)."""
    best = 0.0
    for p in reference:
        listed = dict((v, s) for v, s in p["top_values"].get(column, []))
        if value in listed:
            best = max(best, listed[value])
        elif len(listed) >= 5:
            best = max(best, min(listed.values()))
    return best


def single_value_share(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day, limits, worst = profile["date"], t["single_value_share"], None
    for column, top in profile["top_values"].items():
        if column in SKIP_SHARE_COLUMNS or not top:
            continue
        value, share = top[0]
        allowed = _reference_share(reference, column, value) + limits["max_increase"]
        if (
            share >= limits["min_share"]
            and share > allowed
            and (worst is None or share - allowed > worst[3] - worst[2])
        ):
            worst = (column, value, allowed, share)
    if worst is None:
        return passed(day, "no value dominates a column beyond the reference")
    column, value, allowed, share = worst
    return failed(
        day,
        column,
        f"value {value} makes up {share:.2%} of rows (reference at most {allowed:.2%})",
        {"value": value, "share": share, "allowed": allowed},
    )


def constant_columns(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day = profile["date"]
    constant = [
        column
        for column, distinct in profile["distinct"].items()
        if distinct <= 1 and profile["rows"] > 1 and all(p["distinct"].get(column, 0) > 1 for p in reference)
    ]
    if not constant:
        return passed(day, "no column became constant")
    column = constant[0]
    value = profile["top_values"][column][0][0] if profile["top_values"].get(column) else "null"
    return failed(
        day,
        column,
        f"constant (every row is {value}) but varies on every reference day",
        {"constant_columns": ", ".join(constant)},
    )


def range_shift(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day, limit, worst = profile["date"], t["range_shift"]["max_ratio"], None
    for column, now in profile["quantiles"].items():
        for stat in ("p50", "p99"):
            past = [p["quantiles"][column][stat] for p in reference if column in p["quantiles"]]
            if not past or not np.median(past):
                continue
            ratio = now[stat] / float(np.median(past))
            factor = max(ratio, 1 / ratio) if ratio > 0 else float("inf")
            if factor > limit and (worst is None or factor > worst[4]):
                worst = (column, stat, now[stat], float(np.median(past)), factor)
    if worst is None:
        return passed(day, f"medians and p99s within {limit}x of the reference")
    column, stat, value, past, factor = worst
    return failed(
        day,
        column,
        f"{stat} {value:.4g} is {value / past:.4g}x the reference {past:.4g} (unit or range shift)",
        {"statistic": stat, "value": value, "reference": past, "factor": factor},
    )


def categorical_drift(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day, limit, worst = profile["date"], t["categorical_drift"]["max_linf"], None
    for column, shares in profile["categories"].items():
        past = [p["categories"][column] for p in reference if column in p["categories"]]
        if not past:
            continue
        keys = set(shares).union(*past)
        pooled = {k: float(np.mean([p.get(k, 0.0) for p in past])) for k in keys}
        distance, key = max((abs(shares.get(k, 0.0) - pooled[k]), k) for k in keys)
        if distance > limit and (worst is None or distance > worst[1]):
            worst = (column, distance, key, shares.get(key, 0.0), pooled[key])
    if worst is None:
        return passed(day, f"category shares within L-inf {limit} of the reference")
    column, distance, key, now, past = worst
    return failed(
        day,
        column,
        f"L-inf drift {distance:.3f}: '{key}' is {now:.2%} vs {past:.2%} in the reference",
        {"linf": distance, "category": key, "share": now, "reference_share": past},
    )


def psi(current: np.ndarray, reference: np.ndarray) -> float:
    """Population stability index between two histograms over the same bins."""
    p = current / max(current.sum(), 1) + PSI_EPSILON
    q = reference / max(reference.sum(), 1) + PSI_EPSILON
    return float(np.sum((p - q) * np.log(p / q)))


def numeric_drift(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day, limit, worst = profile["date"], t["numeric_drift"]["max_psi"], None
    for column, counts in profile["histograms"].items():
        past = [np.asarray(p["histograms"][column]) for p in reference if column in p["histograms"]]
        if not past:
            continue
        value = psi(np.asarray(counts, dtype=float), np.sum(past, axis=0).astype(float))
        if value > limit and (worst is None or value > worst[1]):
            worst = (column, value)
    if worst is None:
        return passed(day, f"PSI within {limit} for every numeric column")
    column, value = worst
    return failed(day, column, f"PSI {value:.3f} against the reference (limit {limit})", {"psi": value})


def unknown_ids(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day = profile["date"]
    ids = set(profile["item_ids"])
    known = set().union(*(p["item_ids"] for p in reference))
    share = len(ids - known) / max(len(ids), 1)
    metrics = {"unknown_item_ids": len(ids - known), "distinct_item_ids": len(ids), "share": share}
    if share <= t["unknown_ids"]["max_share"]:
        return passed(day, f"{share:.2%} of item ids are new", metrics)
    return failed(day, "item_id", f"{share:.2%} of distinct item ids never appeared in the reference window", metrics)


def _rate_rule(
    name: str, count_key: str, column: str, what: str
) -> Callable[[Profile, list[Profile], Thresholds], RuleResult]:
    def rule(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
        day, count = profile["date"], profile[count_key]
        rate = count / max(profile["rows_landed"], 1)
        metrics = {count_key: count, "rate": rate, "max_rate": t[name]["max_rate"]}
        if rate <= t[name]["max_rate"]:
            return passed(day, f"{count} {what}", metrics)
        return failed(
            day, column, f"{count} {what} ({rate:.2%} of rows landed, limit {t[name]['max_rate']:.2%})", metrics
        )

    rule.__name__ = name
    return rule


duplicate_rate = _rate_rule("duplicate_rate", "duplicates", "event_id", "exact replays of earlier events")
late_events = _rate_rule("late_events", "late", "ts", "events stamped before the partition's day")
future_timestamps = _rate_rule("future_timestamps", "future", "ts", "events stamped after the partition's day")


def partial_partition(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    day, limits = profile["date"], t["partial_partition"]
    expected = np.mean([p["hours"] for p in reference], axis=0)
    missing = [h for h in range(24) if expected[h] >= limits["min_expected_rows"] and profile["hours"][h] == 0]
    metrics = {
        "missing_hours": ",".join(map(str, missing)) or "none",
        "expected_hours": int((expected >= limits["min_expected_rows"]).sum()),
    }
    if len(missing) <= limits["max_missing_hours"]:
        return passed(day, "every expected hour has events", metrics)
    return failed(
        day,
        "ts",
        f"no events in hours {missing[0]:02d}-{missing[-1]:02d} UTC ({len(missing)} hours) that normally have them",
        metrics,
    )


# name -> (rule, needs a reference window)
RULES: dict[str, tuple[Callable[[Profile, list[Profile], Thresholds], RuleResult], bool]] = {
    "volume": (volume, NEEDS_REFERENCE),
    "null_fraction": (null_fraction, NEEDS_REFERENCE),
    "single_value_share": (single_value_share, NEEDS_REFERENCE),
    "constant_columns": (constant_columns, NEEDS_REFERENCE),
    "range_shift": (range_shift, NEEDS_REFERENCE),
    "categorical_drift": (categorical_drift, NEEDS_REFERENCE),
    "numeric_drift": (numeric_drift, NEEDS_REFERENCE),
    "unknown_ids": (unknown_ids, NEEDS_REFERENCE),
    "duplicate_rate": (duplicate_rate, not NEEDS_REFERENCE),
    "late_events": (late_events, not NEEDS_REFERENCE),
    "future_timestamps": (future_timestamps, not NEEDS_REFERENCE),
    "partial_partition": (partial_partition, NEEDS_REFERENCE),
}
