"""The promotion policy (a YAML file) and the verdict it gives on a comparison."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from evaluation.comparison import Comparison

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.yaml"


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


@dataclass
class Verdict:
    passed: bool
    rules: list[RuleOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[RuleOutcome]:
        return [rule for rule in self.rules if not rule.passed]

    @property
    def reason(self) -> str:
        if self.passed:
            return "every guardrail passed: " + "; ".join(rule.message for rule in self.rules)
        return "refused by " + "; ".join(f"{rule.rule}: {rule.message}" for rule in self.failures)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, "rules": [asdict(rule) for rule in self.rules]}


def decide(comparison: Comparison, policy: PromotionPolicy, two_stage: bool = True) -> Verdict:
    """Apply every rule of ``policy``; the champion-relative rules only when there is a champion,
    and ``beats_first_stage`` only to a two-stage configuration (the others have no ranker)."""
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
        return Verdict(all(rule.passed for rule in rules), rules)

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
    return Verdict(all(rule.passed for rule in rules), rules)
