"""The promotion policy (a YAML file) and the verdict it gives on a comparison."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from evaluation.comparison import Comparison

if TYPE_CHECKING:  # only its attributes are read: the gate runs without exploration logs too
    from evaluation.offpolicy import OffPolicyLift

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.yaml"
GOAL_REWARD, PROXY_REWARD = "timespent", "click"  # OffPolicyLift.reward of the online goal and its proxy
OFFPOLICY_RULE = "offpolicy_goal"
NO_EXPLORATION_LOGS = "no off-policy estimate (no exploration logs to estimate it from)"


@dataclass(frozen=True)
class PromotionPolicy:
    primary_metric: str = "ndcg_at_10"
    primary_margin: float = 0.005
    require_improvement: bool = False
    max_delta_ece: float = 0.01
    max_ece: float = 0.05
    max_psi: float = 0.2
    business_thresholds: tuple[float, ...] = (0.05, 0.3)
    max_business_share_change: float = 0.10
    coverage_margin: float = 0.02
    ranker_must_beat_first_stage: bool = True
    offpolicy_goal_margin: float | None = 0.01  # None: the proxy-only gate (no off-policy rule at all)
    offpolicy_required: bool = False
    goal_first: bool = False  # with a goal verdict, the proxy rules in PROXY_RULES advise instead of block

    def __post_init__(self) -> None:
        margin = self.offpolicy_goal_margin
        if margin is not None and not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"offpolicy_goal_margin must be a finite relative margin >= 0, got {margin}")
        if margin is None and self.offpolicy_required:
            raise ValueError("offpolicy_required needs an offpolicy_goal_margin (the rule it requires)")

    @property
    def uses_offpolicy(self) -> bool:
        return self.offpolicy_goal_margin is not None

    @classmethod
    def proxy_only(cls, path: Path = DEFAULT_POLICY) -> PromotionPolicy:
        """The policy at ``path`` without the off-policy goal rule: the gate as it was before
        off-policy estimates, the baseline a benchmark compares the full gate with."""
        return replace(cls.load(path), offpolicy_goal_margin=None, offpolicy_required=False, goal_first=False)

    @classmethod
    def load(cls, path: Path) -> PromotionPolicy:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown policy keys {sorted(unknown)}")
        if "business_thresholds" in raw:
            raw["business_thresholds"] = tuple(float(t) for t in raw["business_thresholds"])
        return cls(**raw)


@dataclass
class RuleOutcome:
    rule: str
    passed: bool
    observed: float | None
    limit: float | None
    message: str
    advisory: bool = False  # reported, but does not block (``goal_first`` with a goal verdict)

    @property
    def blocks(self) -> bool:
        return not self.passed and not self.advisory


# What a predicted online goal outranks under ``goal_first``: the offline click proxy (accuracy on
# clicks, the ranker's margin over SASRec, coverage) and the score distribution's shape (PSI and
# the shares crossing business thresholds). Calibration (ECE) and finite, varied scores still
# block: downstream rules read calibrated P(click), so a miscalibrated model breaks them whatever
# the goal says, while a calibrated one that is more or less confident changes shares honestly.
PROXY_RULES = ("primary_metric", "beats_first_stage", "coverage", "score_psi", "business_share_ge_")


@dataclass
class Verdict:
    passed: bool
    rules: list[RuleOutcome] = field(default_factory=list)
    offpolicy: dict[str, OffPolicyLift] = field(default_factory=dict)  # reward -> the predicted online lift

    @property
    def failures(self) -> list[RuleOutcome]:
        return [rule for rule in self.rules if rule.blocks]

    @property
    def reason(self) -> str:
        if self.passed:
            lead = "every guardrail passed" if all(r.passed for r in self.rules) else "passed, with advisories"
            return f"{lead}: " + "; ".join(rule.message for rule in self.rules)
        return "refused by " + "; ".join(f"{rule.rule}: {rule.message}" for rule in self.failures)

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "rules": [asdict(rule) for rule in self.rules],
            "offpolicy": {reward: lift.as_dict() for reward, lift in self.offpolicy.items()},
        }

    def rule(self, name: str) -> RuleOutcome | None:
        return next((rule for rule in self.rules if rule.rule == name), None)


def offpolicy_goal(
    lifts: Mapping[str, OffPolicyLift] | None, policy: PromotionPolicy, absent: str = NO_EXPLORATION_LOGS
) -> RuleOutcome:
    """The online goal rule: the lower 95% bound of the predicted relative timespent-per-slate lift
    must reach ``-offpolicy_goal_margin``. Without an estimate, or without a verdict (the logs do
    not support the challenger's slates), it cannot judge, and refuses only if the policy requires it."""
    if policy.offpolicy_goal_margin is None:
        raise ValueError("the proxy-only policy has no off-policy goal rule")
    limit = -policy.offpolicy_goal_margin
    required = " (required by the policy)" if policy.offpolicy_required else ""
    lenient = not policy.offpolicy_required
    goal = (lifts or {}).get(GOAL_REWARD)
    if goal is None:
        return RuleOutcome(OFFPOLICY_RULE, lenient, None, limit, f"not applied: {absent}{required}")
    low = goal.relative_ci_low
    if goal.verdict is None or not math.isfinite(low):
        refusal = goal.refusal or "the estimate has no confidence interval"
        return RuleOutcome(OFFPOLICY_RULE, lenient, None, limit, f"no OPE verdict: {refusal}{required}")
    text = (
        f"predicted timespent/slate {goal.relative_lift:+.2%} [95% CI {low:+.2%}, {goal.relative_ci_high:+.2%}] "
        f"({goal.verdict}, {goal.estimator}, support {goal.support_treatment:.0%}, ESS {goal.ess_treatment:.0f}); "
        f"lower bound must be >= {limit:+.2%}"
    )
    proxy = (lifts or {}).get(PROXY_REWARD)
    if proxy is not None and proxy.verdict is not None:
        text += (
            f"; proxy clicks/slate {proxy.relative_lift:+.2%} "
            f"[{proxy.relative_ci_low:+.2%}, {proxy.relative_ci_high:+.2%}] ({proxy.verdict})"
        )
    return RuleOutcome(OFFPOLICY_RULE, low >= limit, low, limit, text)


def decide(
    comparison: Comparison,
    policy: PromotionPolicy,
    two_stage: bool = True,
    offpolicy: Mapping[str, OffPolicyLift] | None = None,
    absent: str = NO_EXPLORATION_LOGS,
) -> Verdict:
    """Apply every rule of ``policy``; the champion-relative rules (the off-policy goal among them:
    its lift is against the champion) only when there is a champion, and ``beats_first_stage``
    only to a two-stage configuration (the others have no ranker). ``offpolicy`` maps a reward
    ("timespent", "click") to this configuration's predicted online lift; ``absent`` says why
    there is none. The lifts are kept on the verdict for the report even under a proxy-only policy."""
    lifts = dict(offpolicy or {})
    mislabelled = {key: lift.reward for key, lift in lifts.items() if lift.reward != key}
    if mislabelled:
        raise ValueError(f"off-policy lifts filed under the wrong reward (key: reward): {mislabelled}")
    rules: list[RuleOutcome] = []
    diagnostics = comparison.diagnostics
    non_finite, spread = diagnostics["non_finite_scores"], diagnostics["score_std"]
    rules.append(
        RuleOutcome(
            "scores_finite_and_varied",
            non_finite == 0 and spread > 0,
            non_finite,
            0.0,
            f"{int(non_finite)} non-finite scores, standard deviation {spread:.3g}",
        )
    )
    primary = comparison.get(policy.primary_metric)
    if policy.ranker_must_beat_first_stage and two_stage:
        first = diagnostics["first_stage_ndcg_at_10"]
        ndcg = comparison.get("ndcg_at_10").challenger
        rules.append(
            RuleOutcome(
                "beats_first_stage",
                ndcg > first,
                ndcg,
                first,
                f"two-stage NDCG@10 {ndcg:.4f} vs SASRec alone {first:.4f}: margin {ndcg - first:+.4f} "
                f"(paired 95% CI [{diagnostics.get('two_stage_minus_first_stage_ci_low', float('nan')):+.4f}, "
                f"{diagnostics.get('two_stage_minus_first_stage_ci_high', float('nan')):+.4f}])",
            )
        )
    ece = comparison.get("ece")
    if primary.champion is None:
        rules.append(
            RuleOutcome(
                "ece",
                ece.challenger <= policy.max_ece,
                ece.challenger,
                policy.max_ece,
                f"ECE {ece.challenger:.4f} (first model: at most {policy.max_ece})",
            )
        )
        return Verdict(all(rule.passed for rule in rules), rules, lifts)

    delta = primary.delta
    if policy.require_improvement:
        ok, text = delta > 0, f"{policy.primary_metric} {delta:+.4f} (must improve)"
    else:
        ok, text = (
            delta >= -policy.primary_margin,
            f"{policy.primary_metric} {delta:+.4f} (margin {policy.primary_margin})",
        )
    ci = f" [95% CI {primary.ci_low:+.4f}, {primary.ci_high:+.4f}]" if primary.ci_low is not None else ""
    rules.append(RuleOutcome("primary_metric", ok, delta, -policy.primary_margin, text + ci))
    rules.append(
        RuleOutcome(
            "delta_ece",
            ece.delta <= policy.max_delta_ece,
            ece.delta,
            policy.max_delta_ece,
            f"ECE {ece.challenger:.4f} vs champion {ece.champion:.4f} ({ece.delta:+.4f})",
        )
    )
    drift = diagnostics.get("psi_vs_champion", math.nan)
    rules.append(
        RuleOutcome(
            "score_psi",
            drift <= policy.max_psi,
            drift,
            policy.max_psi,
            f"PSI of the score distribution vs champion {drift:.3f}",
        )
    )
    for threshold in policy.business_thresholds:
        share = comparison.get(f"share_score_ge_{threshold:g}")
        change = (share.challenger - share.champion) / max(share.champion, 1e-9)
        rules.append(
            RuleOutcome(
                f"business_share_ge_{threshold:g}",
                abs(change) <= policy.max_business_share_change,
                change,
                policy.max_business_share_change,
                f"share of recommendations with score >= {threshold:g}: {share.challenger:.2%} vs "
                f"champion {share.champion:.2%} ({change:+.0%} relative)",
            )
        )
    cover = comparison.get("coverage")
    rules.append(
        RuleOutcome(
            "coverage",
            cover.delta >= -policy.coverage_margin,
            cover.delta,
            -policy.coverage_margin,
            f"catalogue coverage {cover.challenger:.2%} vs champion {cover.champion:.2%}",
        )
    )
    if policy.uses_offpolicy:
        goal = offpolicy_goal(lifts, policy, absent)
        rules.append(goal)
        if policy.goal_first and goal.observed is not None:  # an estimate with a verdict
            rules = [_advise(rule) if rule.rule.startswith(PROXY_RULES) else rule for rule in rules]
    return Verdict(not any(rule.blocks for rule in rules), rules, lifts)


def _advise(rule: RuleOutcome) -> RuleOutcome:
    if rule.passed:
        return rule
    return replace(rule, advisory=True, message=f"advisory (the predicted goal outranks it): {rule.message}")
