"""Semantic rules: a partition about the wrong entities or from the wrong time.

Each compares the semantic part of a partition's profile (``quality.semantic_profile``) with
the reference window, like the statistical rules in ``quality.rules``, and returns the same
``RuleResult`` naming the partition and the column. A profile without its semantic part (an
older profile, or rows the contract rejects) passes as "not evaluated".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr

from quality.rule_result import Profile, RuleResult, Thresholds, failed, passed
from quality.semantic_profile import resample, sketch_jaccard

Rule = Callable[[Profile, list[Profile], Thresholds], RuleResult]


def _semantic(profile: Profile) -> dict:
    return profile.get("semantic") or {}


def _spearman(a: list | np.ndarray, b: list | np.ndarray) -> float:
    """Spearman's rho; NaN when either side is constant (no rank order to keep)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _not_evaluated(day: str, what: str) -> RuleResult:
    return passed(day, f"not evaluated: {what}", {"evaluated": 0})


def _pooled_item_counts(reference: list[Profile]) -> dict[int, tuple[int, int]]:
    pooled: dict[int, list[int]] = {}
    for p in reference:
        counts = _semantic(p).get("item_counts")
        if not counts:
            continue
        for item, shown, clicked in zip(counts["items"], counts["impressions"], counts["clicks"], strict=True):
            totals = pooled.setdefault(item, [0, 0])
            totals[0] += shown
            totals[1] += clicked
    return {item: (shown, clicked) for item, (shown, clicked) in pooled.items()}


def item_popularity(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    """Per-item popularity (and CTR) keep their rank order against the reference window."""
    day, limits = profile["date"], t["item_popularity"]
    counts, pooled = _semantic(profile).get("item_counts"), _pooled_item_counts(reference)
    if not counts or not pooled:
        return _not_evaluated(day, "no per-item counts")
    today = {
        item: (shown, clicked)
        for item, shown, clicked in zip(counts["items"], counts["impressions"], counts["clicks"], strict=True)
    }
    items = sorted(set(today) & set(pooled))
    if len(items) < limits["min_items"]:
        return _not_evaluated(day, f"{len(items)} items in common with the reference < {limits['min_items']}")
    now = np.array([sum(today[i]) for i in items], dtype=float)
    past = np.array([sum(pooled[i]) for i in items], dtype=float)
    popularity = _spearman(now, past)
    shown_now = np.array([today[i][0] for i in items], dtype=float)
    shown_past = np.array([pooled[i][0] for i in items], dtype=float)
    rated = (shown_now >= limits["min_impressions"]) & (shown_past >= limits["min_impressions"])
    ctr = (
        _spearman(
            [today[i][1] / today[i][0] for i in np.array(items)[rated]],
            [pooled[i][1] / pooled[i][0] for i in np.array(items)[rated]],
        )
        if rated.sum() >= limits["min_items"]
        else float("nan")
    )
    metrics = {"spearman_popularity": popularity, "spearman_ctr": ctr, "items_compared": len(items)}
    metrics["ctr_items"] = int(rated.sum())
    if np.isnan(popularity):
        return _not_evaluated(day, "constant popularity")
    if popularity < limits["min_spearman"]:
        return failed(
            day,
            "item_id",
            f"per-item popularity rank correlation {popularity:.2f} with the reference "
            f"(limit {limits['min_spearman']}): item ids no longer mean the same items",
            metrics,
        )
    if not np.isnan(ctr) and ctr < limits["min_ctr_spearman"]:
        return failed(
            day,
            "item_id",
            f"per-item CTR rank correlation {ctr:.2f} with the reference (limit {limits['min_ctr_spearman']})",
            metrics,
        )
    return passed(day, f"popularity rank correlation {popularity:.2f}, CTR {ctr:.2f}", metrics)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between two histograms over the same bins."""
    p, q = p / max(p.sum(), 1), q / max(q.sum(), 1)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return (kl(p, m) + kl(q, m)) / 2


def user_distribution(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    """Events over hashed user buckets stay close (Jensen-Shannon) to the reference's.

    A small feed's day is noisy over 64 buckets, so the limit is the larger of ``max_js`` and
    ``noise_factor`` x the largest divergence of one reference day from the other reference days."""
    day, limits = profile["date"], t["user_distribution"]
    now = _semantic(profile).get("user_buckets")
    past = [np.asarray(_semantic(p)["user_buckets"], float) for p in reference if _semantic(p).get("user_buckets")]
    if not now or not past:
        return _not_evaluated(day, "no user buckets")
    pooled = np.sum(past, axis=0)
    value = jensen_shannon(np.asarray(now, dtype=float), pooled)
    noise = max((jensen_shannon(h, pooled - h) for h in past), default=0.0) if len(past) > 1 else 0.0
    allowed = max(limits["max_js"], limits["noise_factor"] * noise)
    metrics = {"js_divergence": value, "reference_noise_js": noise, "allowed_js": allowed}
    if value <= allowed:
        return passed(day, f"user distribution JS {value:.4f} (allowed {allowed:.4f})", metrics)
    return failed(
        day,
        "user_id",
        f"events over users diverge from the reference: JS {value:.4f} > {allowed:.4f} "
        f"({limits['noise_factor']}x the reference days' own {noise:.4f})",
        metrics,
    )


def _sampled_users(profile: Profile, reference: list[Profile]) -> tuple[dict[int, int], dict[int, int]] | None:
    """(today's sampled users -> events, the reference's pooled), at the coarsest common sample."""
    sample = _semantic(profile).get("user_sample")
    past = [_semantic(p)["user_sample"] for p in reference if _semantic(p).get("user_sample")]
    if not sample or not past:
        return None
    shift = max([sample["shift"], *(s["shift"] for s in past)])
    pooled: dict[int, int] = {}
    for s in past:
        for user, events in resample(s, shift).items():
            pooled[user] = pooled.get(user, 0) + events
    return resample(sample, shift), pooled


def active_users(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    """The day's active users were mostly active in the reference window too (join coverage)."""
    day, limits = profile["date"], t["active_users"]
    users = _sampled_users(profile, reference)
    if users is None:
        return _not_evaluated(day, "no user sample")
    today, known = users
    if len(today) < limits["min_users"]:
        return _not_evaluated(day, f"{len(today)} sampled users < {limits['min_users']}")
    share = len(today.keys() & known.keys()) / len(today)
    metrics = {"seen_share": share, "sampled_users": len(today), "min_seen_share": limits["min_seen_share"]}
    if share >= limits["min_seen_share"]:
        return passed(day, f"{share:.1%} of active users were active in the reference window", metrics)
    return failed(
        day,
        "user_id",
        f"only {share:.1%} of active users were active in the reference window "
        f"(limit {limits['min_seen_share']:.0%}): user ids from another id space?",
        metrics,
    )


def user_activity(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    """Users' activity keeps its rank order: today's heavy users were heavy in the reference.

    Users active in the reference but not today count as 0 events today. The correlation must be
    significantly positive, ``rho * sqrt(n - 1) >= min_z`` (Spearman's null spread is 1/sqrt(n - 1)),
    so the limit scales with how many users a feed has."""
    day, limits = profile["date"], t["user_activity"]
    if len(reference) < limits["min_reference_days"]:  # a few days of counts rank users by chance
        return _not_evaluated(day, f"{len(reference)} reference days < {limits['min_reference_days']}")
    users = _sampled_users(profile, reference)
    if users is None:
        return _not_evaluated(day, "no user sample")
    today, pooled = users
    common = sorted(today.keys() | pooled.keys())  # a user absent today counts as 0 events
    if len(today.keys() & pooled.keys()) < limits["min_users"]:
        return _not_evaluated(day, f"fewer than {limits['min_users']} users in common with the reference")
    rho = _spearman([today.get(u, 0) for u in common], [pooled.get(u, 0) for u in common])
    z = rho * float(np.sqrt(len(common) - 1))
    metrics = {"spearman_activity": rho, "z": z, "users_compared": len(common), "min_z": limits["min_z"]}
    if np.isnan(rho) or z >= limits["min_z"]:
        return passed(day, f"user activity rank correlation {rho:.2f} (z {z:.1f})", metrics)
    return failed(
        day,
        "user_id",
        f"user activity rank correlation {rho:.2f} over {len(common)} users (z {z:.1f} < {limits['min_z']}): "
        "user ids no longer mean the same users",
        metrics,
    )


def repeated_partition(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    """The day's (user, item, type, time-of-day) multiset is not a copy of a reference day's."""
    day, limit = profile["date"], t["repeated_partition"]["max_jaccard"]
    sketch = _semantic(profile).get("content_sketch")
    if not sketch:
        return _not_evaluated(day, "no content sketch")
    similar = [
        (sketch_jaccard(sketch, _semantic(p)["content_sketch"]), p["date"])
        for p in reference
        if _semantic(p).get("content_sketch")
    ]
    if not similar:
        return _not_evaluated(day, "no reference sketches")
    jaccard, twin = max(similar)
    metrics = {"max_jaccard": jaccard, "most_similar_partition": twin, "limit": limit}
    if jaccard <= limit:
        return passed(day, f"content overlap at most {jaccard:.2f} with a reference day", metrics)
    return failed(
        day,
        "event_id",
        f"content repeats partition {twin}: estimated Jaccard {jaccard:.2f} of (user, item, type, time of day) "
        f"(limit {limit})",
        metrics,
    )


def _relationship_rule(name: str, count: str, of: str, column: str, what: str) -> Rule:
    """A rule that fails when ``count / of`` (both from the relationship counts) exceeds max_rate."""

    def rule(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
        day, limit = profile["date"], t[name]["max_rate"]
        counts = _semantic(profile).get("relationships") or {}
        if count not in counts:
            return _not_evaluated(day, f"no {count} count")
        rate = counts[count] / max(counts[of], 1)
        metrics = {count: counts[count], of: counts[of], "rate": rate, "max_rate": limit}
        if rate <= limit:
            return passed(day, f"{counts[count]} {what}", metrics)
        return failed(day, column, f"{counts[count]} {what} ({rate:.2%} of {of}, limit {limit:.2%})", metrics)

    rule.__name__ = name
    rule.__doc__ = f"{what.capitalize()} stay below max_rate of {of}."
    return rule


def reused_event_ids(profile: Profile, reference: list[Profile], t: Thresholds) -> RuleResult:
    """No event id of the partition is already stored in another partition."""
    day, limit = profile["date"], t["reused_event_ids"]["max_rate"]
    if "stored_elsewhere" not in profile:
        return _not_evaluated(day, "no cross-partition lookup")
    count = profile["stored_elsewhere"]
    rate = count / max(profile["rows"], 1)
    metrics = {"stored_elsewhere": count, "rate": rate, "max_rate": limit}
    if rate <= limit:
        return passed(day, f"{count} event ids already stored in another partition", metrics)
    return failed(
        day, "event_id", f"{count} event ids are already stored in another partition ({rate:.2%} of rows)", metrics
    )


orphan_clicks = _relationship_rule(
    "orphan_clicks",
    "orphan_clicks",
    "clicks",
    "session_id",
    "clicks without an impression of their item in their session",
)
click_before_impression = _relationship_rule(
    "click_before_impression", "clicks_before_impression", "clicks", "ts", "clicks stamped before their impression"
)
overlong_timespent = _relationship_rule(
    "overlong_timespent",
    "overlong_timespent",
    "clicks_with_duration",
    "timespent_s",
    "clicks whose timespent exceeds 3x the item's duration",
)
long_sessions = _relationship_rule(
    "long_sessions", "long_sessions", "sessions", "session_id", "sessions spanning more than 6 hours"
)
slate_positions = _relationship_rule(
    "slate_positions", "positions_outside_slate", "events", "position", "events at a position outside their slate"
)

# name -> (rule, needs a reference window)
SEMANTIC_RULES: dict[str, tuple[Rule, bool]] = {
    "item_popularity": (item_popularity, True),
    "user_distribution": (user_distribution, True),
    "active_users": (active_users, True),
    "user_activity": (user_activity, True),
    "repeated_partition": (repeated_partition, True),
    "reused_event_ids": (reused_event_ids, False),
    "orphan_clicks": (orphan_clicks, False),
    "click_before_impression": (click_before_impression, False),
    "overlong_timespent": (overlong_timespent, False),
    "long_sessions": (long_sessions, False),
    "slate_positions": (slate_positions, False),
}
