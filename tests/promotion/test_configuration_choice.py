"""Which configuration serves: the best passing one by the primary metric, the simpler on a tie."""

from evaluation.comparison import Comparison, Difference
from promotion.judge import choose_configuration, gate_reason
from promotion.policy import RuleOutcome, Verdict


def _judged(ndcg: float, passed: bool) -> tuple[Comparison, Verdict]:
    comparison = Comparison(rows=[Difference("ndcg_at_10", ndcg, None, None, None, None)])
    rule = RuleOutcome("ece", passed, 0.01, 0.05, "ECE 0.0100 (first model: at most 0.05)")
    return comparison, Verdict(passed, [rule])


def test_the_best_passing_configuration_serves():
    judged = {
        "popularity": _judged(0.05, True),
        "first_stage": _judged(0.08, True),
        "two_stage": _judged(0.09, False),  # better, but refused
    }
    assert choose_configuration(judged, "ndcg_at_10") == "first_stage"
    reason = gate_reason(judged, "first_stage")
    assert reason.startswith("serves first_stage: every guardrail passed")
    assert "two_stage (NDCG@10 0.0900): refused by ece" in reason and "popularity (NDCG@10 0.0500): passed" in reason


def test_popularity_serves_where_it_truly_wins_and_ties_go_to_the_simpler_configuration():
    judged = {"popularity": _judged(0.2, True), "first_stage": _judged(0.2, True), "two_stage": _judged(0.1, True)}
    assert choose_configuration(judged, "ndcg_at_10") == "popularity"


def test_no_configuration_passing_means_no_champion():
    judged = {name: _judged(0.1, False) for name in ("popularity", "first_stage", "two_stage")}
    assert choose_configuration(judged, "ndcg_at_10") is None
    assert gate_reason(judged, None).startswith("no configuration passed | popularity (NDCG@10 0.1000): refused by")
