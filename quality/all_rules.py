"""Every data rule a partition of events is judged by, and how one is evaluated.

The statistical rules (how many, how distributed) and the semantic ones (who and when) share
one registry, so each becomes one blocking Dagster check and one thresholds section alike.
"""

from __future__ import annotations

from quality.rule_result import Profile, RuleResult, Thresholds, passed
from quality.rules import RULES as STATISTICAL_RULES
from quality.semantic_rules import SEMANTIC_RULES

RULES = {**STATISTICAL_RULES, **SEMANTIC_RULES}


def evaluate(name: str, profile: Profile, reference: list[Profile], thresholds: Thresholds) -> RuleResult:
    """One rule on one partition; a disabled rule, or one short of reference days, passes and says why."""
    rule, needs_reference = RULES[name]
    if not thresholds[name].get("enabled", True):
        return passed(profile["date"], f"{name} is disabled here (quality_thresholds.yaml)", {"disabled": 1})
    minimum = thresholds["reference"]["min_days"]
    if needs_reference and len(reference) < minimum:
        return passed(
            profile["date"],
            f"insufficient reference ({len(reference)} good days < {minimum}); not evaluated",
            {"reference_days": len(reference)},
        )
    result = rule(profile, reference, thresholds)
    return RuleResult(
        result.passed, result.description, result.column, {**result.metrics, "reference_days": len(reference)}
    )
