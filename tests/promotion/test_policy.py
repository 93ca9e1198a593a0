"""The promotion gate on hand-made model views: what it measures and what it refuses."""

import numpy as np
import pandas as pd
import pytest

from evaluation.comparison import (
    Holdout,
    ModelView,
    business_share,
    compare,
    coverage,
    intra_list_diversity,
    novelty,
    psi,
)
from promotion.policy import DEFAULT_POLICY, PromotionPolicy, decide
from training.calibration import Calibrator, expected_calibration_error

POLICY = PromotionPolicy.load(DEFAULT_POLICY)


def test_beyond_accuracy_measures_by_hand():
    lists = np.array([[1, 2, -1], [1, 3, 4]])
    assert coverage(lists, catalogue_size=10) == 0.4
    category = pd.Series({1: "a", 2: "a", 3: "b", 4: "b"})
    np.testing.assert_allclose(intra_list_diversity(lists, category), [0.0, 2 / 3])
    popularity = pd.Series({1: 6, 2: 0})  # 3 and 4 never clicked
    total = 6 + 2 + 1
    np.testing.assert_allclose(novelty(lists, popularity)[0], np.mean([-np.log2(7 / total), -np.log2(1 / total)]))
    assert business_share(np.array([[0.1, 0.4, np.nan]]), 0.3) == 0.5
    assert psi(np.array([0.1, 0.1, 0.9]), np.array([0.1, 0.1, 0.9])) == pytest.approx(0.0)


def test_expected_calibration_error_by_hand():
    # Two bins used: predictions 0.1 (observed 0 of 2) and 0.9 (observed 2 of 2).
    assert expected_calibration_error(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 0, 1, 1])) == pytest.approx(0.1)
    calibrator = Calibrator.fit(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(calibrator.apply(np.array([-5.0, 5.0])), [0.0, 1.0])


def _world(seed: int = 0, users: int = 300, k: int = 10, items: int = 200):
    """A champion whose calibrated scores are exactly the click probabilities of its impressions."""
    rng = np.random.default_rng(seed)
    truth_items = rng.integers(1, items + 1, size=users)
    lists = np.stack([rng.choice(np.arange(1, items + 1), size=k, replace=False) for _ in range(users)])
    hits = rng.uniform(size=users) < 0.5
    lists[hits, rng.integers(0, k, size=int(hits.sum()))] = truth_items[hits]
    p = rng.uniform(0.01, 0.6, size=20_000)
    labels = (rng.uniform(size=p.size) < p).astype(int)
    holdout = Holdout(
        relevant_rows=np.arange(users),
        relevant_items=truth_items,
        impression_labels=labels,
        impression_segments={"new_users": np.arange(p.size) % 10 == 0},
        item_popularity=pd.Series(rng.integers(0, 50, size=items), index=np.arange(1, items + 1)),
        item_category=pd.Series(np.arange(1, items + 1) % 7, index=np.arange(1, items + 1)),
        catalogue_size=items,
    )
    list_scores = rng.uniform(0.01, 0.6, size=lists.shape)
    champion = ModelView("champion", 1, lists, list_scores, lists[:, ::-1], p, rng.uniform(0.01, 0.6, 5_000))
    return champion, holdout, rng


def _decalibrated(view: ModelView, factor: float) -> ModelView:
    def scale(p):
        logit = np.log(p / (1 - p))
        return 1 / (1 + np.exp(-factor * logit))

    return ModelView(
        "x3",
        2,
        view.lists,
        scale(view.list_scores),
        view.first_stage_lists,
        scale(view.impression_scores),
        scale(view.candidate_scores),
    )


def test_a_challenger_with_logits_times_three_is_refused_naming_the_guardrails():
    champion, holdout, _ = _world()
    challenger = _decalibrated(champion, 3.0)  # same lists (same NDCG), decalibrated scores
    comparison = compare(challenger, champion, holdout, list(POLICY.business_thresholds), resamples=50)
    assert comparison.get("ndcg_at_10").delta == 0.0
    verdict = decide(comparison, POLICY)
    assert not verdict.passed
    failed = {rule.rule for rule in verdict.failures}
    assert {"delta_ece", "score_psi"} <= failed
    assert "business_share_ge_0.05" in failed or "business_share_ge_0.3" in failed
    assert verdict.reason.startswith("refused by ") and "delta_ece" in verdict.reason


def test_a_model_with_nan_scores_is_refused():
    champion, holdout, _ = _world()
    broken = ModelView(
        "nan",
        2,
        champion.lists,
        champion.list_scores,
        champion.first_stage_lists,
        champion.impression_scores,
        np.where(np.arange(5_000) % 3 == 0, np.nan, champion.candidate_scores),
    )
    verdict = decide(compare(broken, champion, holdout, [0.05, 0.3], resamples=20), POLICY)
    assert not verdict.passed and verdict.failures[0].rule == "scores_finite_and_varied"
    assert "1667 non-finite scores" in verdict.failures[0].message


def test_a_better_calibrated_challenger_is_promotable():
    champion, holdout, _ = _world()
    better_lists = champion.lists.copy()
    better_lists[:, 0] = holdout.relevant_items  # the relevant item on top for every user
    challenger = ModelView(
        "better",
        2,
        better_lists,
        champion.list_scores,
        champion.first_stage_lists,
        champion.impression_scores,
        champion.candidate_scores,
    )
    comparison = compare(challenger, champion, holdout, list(POLICY.business_thresholds), resamples=50)
    ndcg = comparison.get("ndcg_at_10")
    assert ndcg.delta > 0.3 and ndcg.ci_low > 0  # a clear win, outside the bootstrap noise
    verdict = decide(comparison, POLICY)
    assert verdict.passed, verdict.reason


def test_a_first_model_needs_the_absolute_rules_only():
    champion, holdout, _ = _world()
    first = compare(champion, None, holdout, [0.05, 0.3], resamples=10)
    verdict = decide(first, POLICY)
    assert [rule.rule for rule in verdict.rules] == ["scores_finite_and_varied", "beats_first_stage", "ece"]


def test_policy_file_is_strict(tmp_path):
    assert POLICY.max_delta_ece == 0.01 and POLICY.max_psi == 0.2 and POLICY.business_thresholds == (0.05, 0.3)
    typo = tmp_path / "policy.yaml"
    typo.write_text("max_psy: 0.3\n")
    with pytest.raises(ValueError, match="unknown policy keys"):
        PromotionPolicy.load(typo)
