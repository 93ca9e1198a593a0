"""The off-policy goal rule on hand-made lifts: pass, fail, no verdict, not applied, required; the
proxy-only policy judging exactly as the gate did before; the tags and metrics judge records."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from evaluation.comparison import Comparison, Difference
from evaluation.offpolicy import Estimate, OffPolicyLift
from promotion.judge import configuration_lifts, offpolicy_metrics, offpolicy_tags
from promotion.policy import DEFAULT_POLICY, NO_EXPLORATION_LOGS, OFFPOLICY_RULE, PromotionPolicy, decide

POLICY = replace(PromotionPolicy.load(DEFAULT_POLICY), offpolicy_goal_margin=0.01)  # the hand-made figures assume 1%
PROXY_ONLY = PromotionPolicy.proxy_only()
TODAYS_RULES = [  # the gate before off-policy estimates, against a champion
    "scores_finite_and_varied",
    "beats_first_stage",
    "primary_metric",
    "delta_ece",
    "score_psi",
    "business_share_ge_0.05",
    "business_share_ge_0.3",
    "coverage",
]


def lift(
    reward: str,
    relative: float,
    low: float,
    high: float,
    verdict: str | None = "no difference",
    refusal: str | None = None,
    support: float = 0.9,
) -> OffPolicyLift:
    """A predicted lift of ``relative`` [low, high] over a champion at 1.0 per slate."""
    control = Estimate(value=1.0, ci_low=0.95, ci_high=1.05, ess=800.0, n_sessions=1000, support=1.0)
    treatment = Estimate(
        value=1.0 + relative, ci_low=1.0 + low, ci_high=1.0 + high, ess=400.0, n_sessions=1000, support=support
    )
    return OffPolicyLift(
        reward=reward,
        estimator="snips",
        control=control,
        treatment=treatment,
        lift=relative,
        lift_ci_low=low,
        lift_ci_high=high,
        relative_lift=relative,
        relative_ci_low=low,
        relative_ci_high=high,
        support_control=1.0,
        support_treatment=support,
        ess_control=800.0,
        ess_treatment=400.0,
        n_sessions=1000,
        verdict=verdict,
        refusal=refusal,
    )


def comparison(champion: bool = True, ndcg_delta: float = 0.01) -> Comparison:
    """A challenger that passes every proxy rule of the default policy."""

    def row(metric: str, challenger: float, reference: float) -> Difference:
        if not champion:
            return Difference(metric, challenger, None, None, None, None)
        delta = challenger - reference
        return Difference(metric, challenger, reference, delta, delta - 0.005, delta + 0.005)

    rows = [
        row("ndcg_at_10", 0.2 + ndcg_delta, 0.2),
        row("ece", 0.02, 0.02),
        row("share_score_ge_0.05", 0.5, 0.5),
        row("share_score_ge_0.3", 0.1, 0.1),
        row("coverage", 0.3, 0.3),
    ]
    diagnostics = {"non_finite_scores": 0.0, "score_std": 0.1, "first_stage_ndcg_at_10": 0.15, "psi_vs_champion": 0.01}
    return Comparison(rows, diagnostics)


def goal_rule(verdict):
    return verdict.rule(OFFPOLICY_RULE)


def test_the_default_policy_adds_a_goal_first_rule_and_keeps_every_proxy_rule():
    assert POLICY.offpolicy_goal_margin is not None and POLICY.offpolicy_goal_margin >= 0
    assert (POLICY.offpolicy_required, POLICY.goal_first) == (False, True)
    assert replace(POLICY, offpolicy_goal_margin=None, goal_first=False) == PROXY_ONLY
    assert PromotionPolicy(offpolicy_goal_margin=None) == PROXY_ONLY  # the file keeps today's proxy defaults


def test_a_predicted_goal_lift_within_the_margin_passes_and_names_both_lifts():
    lifts = {"timespent": lift("timespent", 0.01, -0.008, 0.03), "click": lift("click", 0.04, 0.01, 0.07, "win")}
    verdict = decide(comparison(), POLICY, offpolicy=lifts)
    rule = goal_rule(verdict)
    assert verdict.passed, verdict.reason
    assert [r.rule for r in verdict.rules] == [*TODAYS_RULES, OFFPOLICY_RULE]
    assert (rule.observed, rule.limit) == (-0.008, -0.01)
    assert "predicted timespent/slate +1.00% [95% CI -0.80%, +3.00%]" in rule.message
    assert "proxy clicks/slate +4.00% [+1.00%, +7.00%] (win)" in rule.message
    assert set(verdict.as_dict()["offpolicy"]) == {"timespent", "click"}


def test_a_lower_bound_below_the_margin_refuses_even_when_the_proxies_win():
    lifts = {"timespent": lift("timespent", -0.01, -0.03, 0.01), "click": lift("click", 0.05, 0.02, 0.08, "win")}
    verdict = decide(comparison(ndcg_delta=0.05), POLICY, offpolicy=lifts)
    assert not verdict.passed
    assert [r.rule for r in verdict.failures] == [OFFPOLICY_RULE]
    assert verdict.reason.startswith("refused by offpolicy_goal: predicted timespent/slate -1.00%")
    assert goal_rule(verdict).observed == -0.03


def test_an_estimate_without_support_has_no_verdict_and_refuses_only_when_required():
    refusal = "the logs support 12% of the challenger's slates (at least 50% needed)"
    lifts = {"timespent": lift("timespent", float("nan"), float("nan"), float("nan"), None, refusal, 0.12)}
    lenient = decide(comparison(), POLICY, offpolicy=lifts)
    assert lenient.passed
    assert goal_rule(lenient).message == f"no OPE verdict: {refusal}"
    assert goal_rule(lenient).observed is None

    strict = decide(comparison(), replace(POLICY, offpolicy_required=True), offpolicy=lifts)
    assert not strict.passed
    assert goal_rule(strict).message == f"no OPE verdict: {refusal} (required by the policy)"


def test_without_exploration_logs_the_rule_is_not_applied_unless_required():
    lenient = decide(comparison(), POLICY)
    assert lenient.passed
    assert goal_rule(lenient).message.startswith("not applied: no off-policy estimate (no exploration logs")
    strict = decide(comparison(), replace(POLICY, offpolicy_required=True), absent="no estimate for popularity")
    assert not strict.passed
    assert goal_rule(strict).message == "not applied: no estimate for popularity (required by the policy)"
    # A click estimate alone does not judge the goal.
    clicks_only = decide(comparison(), POLICY, offpolicy={"click": lift("click", 0.1, 0.05, 0.15, "win")})
    assert goal_rule(clicks_only).message.startswith("not applied")


def test_the_proxy_only_policy_judges_exactly_as_today_whatever_the_lifts_say():
    losing = {"timespent": lift("timespent", -0.2, -0.3, -0.1, "loss")}
    for chall in (comparison(), comparison(ndcg_delta=-0.02)):
        today = decide(chall, PROXY_ONLY)
        with_lifts = decide(chall, PROXY_ONLY, offpolicy=losing)
        assert [r.rule for r in today.rules] == TODAYS_RULES
        assert (with_lifts.passed, with_lifts.rules, with_lifts.reason) == (today.passed, today.rules, today.reason)
        assert with_lifts.offpolicy == losing  # kept for the report, not judged
    assert decide(comparison(), PROXY_ONLY).passed and not decide(comparison(ndcg_delta=-0.02), PROXY_ONLY).passed
    assert offpolicy_tags(decide(comparison(), PROXY_ONLY, offpolicy=losing)) == {}


def test_a_first_model_has_no_champion_relative_goal_rule():
    lifts = {"timespent": lift("timespent", -0.2, -0.3, -0.1, "loss")}
    verdict = decide(comparison(champion=False), replace(POLICY, offpolicy_required=True), offpolicy=lifts)
    assert [r.rule for r in verdict.rules] == ["scores_finite_and_varied", "beats_first_stage", "ece"]
    assert verdict.passed


def test_the_policy_file_can_disable_or_require_the_rule_and_rejects_nonsense(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        re.sub(r"offpolicy_goal_margin: [0-9.]+", "offpolicy_goal_margin: null", DEFAULT_POLICY.read_text())
    )
    assert not PromotionPolicy.load(path).uses_offpolicy
    assert replace(PromotionPolicy.load(path), goal_first=False) == PROXY_ONLY
    path.write_text("offpolicy_goal_margin: 0.005\noffpolicy_required: true\n")
    assert PromotionPolicy.load(path).offpolicy_required
    with pytest.raises(ValueError, match="needs an offpolicy_goal_margin"):
        PromotionPolicy(offpolicy_goal_margin=None, offpolicy_required=True)
    with pytest.raises(ValueError, match="finite relative margin"):
        PromotionPolicy(offpolicy_goal_margin=-0.01)
    with pytest.raises(ValueError, match="wrong reward"):
        decide(comparison(), POLICY, offpolicy={"timespent": lift("click", 0.0, -0.01, 0.01)})


def test_judge_records_the_goal_rule_as_a_tag_and_the_lifts_as_metrics():
    lifts = {"timespent": lift("timespent", -0.01, -0.03, 0.01), "click": lift("click", 0.05, 0.02, 0.08, "win")}
    verdict = decide(comparison(), POLICY, offpolicy=lifts)
    assert offpolicy_tags(verdict)["gate_offpolicy_goal"].startswith("FAILED: predicted timespent/slate -1.00%")
    metrics = offpolicy_metrics(verdict)
    assert metrics["gate_ope_timespent_relative_ci_low"] == -0.03
    assert metrics["gate_ope_click_ess_treatment"] == 400.0 and metrics["gate_ope_click_n_sessions"] == 1000
    missing = decide(comparison(), POLICY, offpolicy={"timespent": lift("timespent", *[float("nan")] * 3, None)})
    assert "gate_ope_timespent_relative_lift" not in offpolicy_metrics(missing)  # NaN is not logged
    assert configuration_lifts(None, "two_stage") == (None, NO_EXPLORATION_LOGS)
    absent = configuration_lifts({"two_stage": lifts}, "popularity")[1]
    assert absent == "no off-policy estimate for popularity (estimated: two_stage)"
    assert configuration_lifts({"two_stage": lifts}, "two_stage")[0] is lifts


def test_goal_first_lets_a_predicted_goal_outrank_the_click_proxy():
    worse_on_clicks = comparison(ndcg_delta=-0.03)  # fails primary_metric (margin 0.005)
    policy = replace(POLICY, offpolicy_goal_margin=0.01, goal_first=True)
    good = {"timespent": lift("timespent", 0.05, 0.01, 0.09, "win")}
    verdict = decide(worse_on_clicks, policy, offpolicy=good)
    primary = verdict.rule("primary_metric")
    assert verdict.passed and not primary.passed and primary.advisory
    assert primary.message.startswith("advisory")
    assert verdict.reason.startswith("passed, with advisories")
    # The same challenger without goal-first, or without an estimate, is refused by the proxy.
    assert not decide(worse_on_clicks, replace(policy, goal_first=False), offpolicy=good).passed
    assert not decide(worse_on_clicks, policy).passed
    assert not decide(worse_on_clicks, PROXY_ONLY, offpolicy=good).passed
    # A predicted goal loss refuses, and calibration still blocks whatever the goal says.
    bad = {"timespent": lift("timespent", -0.05, -0.09, -0.01, "loss")}
    assert not decide(worse_on_clicks, policy, offpolicy=bad).passed
    miscalibrated = Comparison(
        [*worse_on_clicks.rows[:1], Difference("ece", 0.2, 0.02, 0.18, 0.17, 0.19), *worse_on_clicks.rows[2:]],
        worse_on_clicks.diagnostics,
    )
    refused = decide(miscalibrated, policy, offpolicy=good)
    assert not refused.passed and [rule.rule for rule in refused.failures] == ["delta_ece"]


def test_goal_first_needs_a_verdict_not_just_numbers():
    worse_on_clicks = comparison(ndcg_delta=-0.03)
    unsupported = {"timespent": lift("timespent", 0.05, 0.01, 0.09, None, "no OPE verdict: support 0.50 < 0.95")}
    verdict = decide(worse_on_clicks, replace(POLICY, goal_first=True), offpolicy=unsupported)
    assert not verdict.passed and verdict.rule("primary_metric").blocks
