"""Off-policy slate estimators: exact values on a hand-made log, support refusals, verdicts, and
unbiasedness against a simulated position-based click model whose truth is known exactly."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from evaluation.offpolicy import (
    LoggedSlates,
    compare,
    doubly_robust,
    effective_sample_size,
    estimate_examination,
    ips,
    pbm,
    snips,
    support_coverage,
)
from slate.marginals import sample_slates

# The hand-made log: K = 2, items 10, 11, 12, three sessions.
#   session 0 support: 10 (0.5, 0.25), 11 (0.25, 0.5), 12 (0.25, 0.25)
#             shown:   10 at 1 (click, 30 s), 11 at 2 (no click)
#   session 1 support: 10 (0.5, 0.5), 11 (0.5, 0.5)                     (12 impossible)
#             shown:   11 at 1 (click, 20 s), 10 at 2 (click, 10 s)
#   session 2 support: 10 (0.25, 0.5), 12 (0.75, 0)                     (11 impossible)
#             shown:   12 at 1 (no click), 10 at 2 (click, 40 s)
SHOWN = pd.DataFrame(
    {
        "session": [0, 0, 1, 1, 2, 2],
        "item": [10, 11, 11, 10, 12, 10],
        "position": [1, 2, 1, 2, 1, 2],
        "click": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0],
        "timespent": [30.0, 0.0, 20.0, 10.0, 0.0, 40.0],
        "propensity": [0.5, 0.5, 0.5, 1.0, 0.75, 1.0],
    }
)
SUPPORT = pd.DataFrame(
    {
        "session": [0, 0, 0, 1, 1, 2, 2],
        "item": [10, 11, 12, 10, 11, 10, 12],
        "m_1": [0.5, 0.25, 0.25, 0.5, 0.5, 0.25, 0.75],
        "m_2": [0.25, 0.5, 0.25, 0.5, 0.5, 0.5, 0.0],
    }
)
TARGET = np.array([[10, 12], [10, 11], [12, 10]])
OFF_SUPPORT = np.array([[11, 10], [12, 10], [11, 12]])  # 12 in session 1 and 11 in session 2: impossible
THETA = np.array([1.0, 0.5])


@pytest.fixture(scope="module")
def hand() -> LoggedSlates:
    return LoggedSlates.from_frames(SHOWN, SUPPORT)


def test_from_frames_reads_the_log_and_names_missing_columns(hand):
    assert (hand.n_sessions, hand.slate_size, len(hand.item)) == (3, 2, 6)
    np.testing.assert_array_equal(hand.shown_marginal[4], [0.75, 0.0])
    with pytest.raises(ValueError, match=r"shown frame is missing column\(s\) \['timespent'\]"):
        LoggedSlates.from_frames(SHOWN.drop(columns="timespent"), SUPPORT)
    with pytest.raises(ValueError, match=r"support frame is missing column\(s\) \['m_1'\]"):
        LoggedSlates.from_frames(SHOWN, SUPPORT.drop(columns="m_1"))
    with pytest.raises(ValueError, match=r"marginal columns m_1\.\.m_K"):
        LoggedSlates.from_frames(SHOWN, SUPPORT[["session", "item"]])


def test_ips_by_hand(hand):
    # w = [target puts the item at its logged slot] / π_0(item at logged slot):
    #   s0: 10@1 ✓ 1/0.5 = 2, 11@2 ✗ 0; s1: 11@1 ✗, 10@2 ✗; s2: 12@1 ✓ 1/0.75 = 4/3, 10@2 ✓ 1/0.5 = 2.
    # clicks: (2·1 + 4/3·0 + 2·1) / 3 = 4/3; timespent: (2·30 + 2·40) / 3 = 140/3.
    # ESS = (2 + 4/3 + 2)² / (4 + 16/9 + 4) = (256/9) / (88/9) = 32/11.
    clicks = ips(hand, TARGET, "click", n_boot=50)
    assert clicks.value == pytest.approx(4 / 3)
    assert clicks.ess == pytest.approx(32 / 11)
    assert (clicks.n_sessions, clicks.support) == (3, 1.0)
    assert ips(hand, TARGET, "timespent", n_boot=50).value == pytest.approx(140 / 3)


def test_snips_normalises_each_position_by_hand(hand):
    # Same weights as IPS. Position 1: Σwr / Σw = (2·1 + 4/3·0) / (2 + 4/3) = 0.6; position 2:
    # (2·1) / 2 = 1. Every target slate fills both slots, so F_j / S = 1: 0.6 + 1 = 1.6.
    # timespent: 60 / (10/3) + 80 / 2 = 18 + 40 = 58.
    assert snips(hand, TARGET, "click", n_boot=50).value == pytest.approx(1.6)
    assert snips(hand, TARGET, "timespent", n_boot=50).value == pytest.approx(58.0)
    # Emptying slot 2 in session 0 makes F_2 / S = 2/3 (and drops no logged match): 0.6 + 2/3.
    partial = TARGET.copy()
    partial[0, 1] = -1
    assert snips(hand, partial, "click", n_boot=50).value == pytest.approx(0.6 + 2 / 3)


def test_pbm_by_hand(hand):
    # w = Σ_k θ_k π_t(i, k) / Σ_k θ_k π_0(i, k), θ = (1, 0.5):
    #   s0: 10 → 1 / (0.5 + 0.125) = 8/5; 11 not in target → 0
    #   s1: 11 → 0.5 / (0.5 + 0.25) = 2/3; 10 → 1 / 0.75 = 4/3
    #   s2: 12 → 1 / 0.75 = 4/3 (no click); 10 → 0.5 / (0.25 + 0.25) = 1
    # clicks: (8/5 + 2/3 + 4/3 + 1) / 3 = 23/15; timespent: (48 + 40/3 + 40/3 + 40) / 3 = 344/9.
    # ESS = (89/15)² / (64/25 + 4/9 + 16/9 + 16/9 + 1) = (7921/225) / (189/25) = 7921/1701.
    clicks = pbm(hand, TARGET, "click", theta=THETA, n_boot=50)
    assert clicks.value == pytest.approx(23 / 15)
    assert clicks.ess == pytest.approx(7921 / 1701)
    assert pbm(hand, TARGET, "timespent", theta=THETA, n_boot=50).value == pytest.approx(344 / 9)
    # θ's scale cancels.
    assert pbm(hand, TARGET, "click", theta=3 * THETA, n_boot=50).value == pytest.approx(23 / 15)


def test_doubly_robust_by_hand(hand):
    # Without cross-fitting, α = 1: ā = Σr / Σθ_j = 4 / 4.5 = 8/9, â = (Σr + ā) / (Σθ_j + 1):
    #   â_10 = (3 + 8/9) / 3 = 35/27, â_11 = (1 + 8/9) / 2.5 = 34/45, â_12 = (8/9) / 2 = 4/9.
    # Direct Σ_k θ_k â(t_k): s0 35/27 + 2/9 = 41/27, s1 35/27 + 17/45 = 226/135, s2 4/9 + 35/54 = 59/54.
    # Residuals w (r − θ_j â) with the PBM weights: s0 8/5·(−8/27) = −64/135, s1 2/3·11/45 = 22/135
    # and 4/3·19/54 = 38/81, s2 4/3·(−4/9) = −16/27 and 1·19/54.
    # Mean over 3 sessions: 1702/1215.
    plain = doubly_robust(hand, TARGET, "click", theta=THETA, prior_strength=1.0, cross_fit=False, n_boot=50)
    assert plain.value == pytest.approx(1702 / 1215)
    assert plain.ess == pytest.approx(7921 / 1701)  # the PBM weights
    # Cross-fitted: sessions 0, 2 use the model fitted on session 1 (ā = 2/1.5 = 4/3, â_10 = 14/9,
    # â_11 = 7/6, â_12 = ā): s0 = 20/9 − 8/9 = 4/3, s2 = 19/9 − 16/9 + 2/9 = 5/9. Session 1 uses
    # sessions 0, 2 (ā = 2/3, â_10 = 16/15, â_11 = 4/9): 58/45 + 10/27 + 28/45 = 308/135.
    # Mean: (4/3 + 308/135 + 5/9) / 3 = 563/405.
    crossed = doubly_robust(hand, TARGET, "click", theta=THETA, prior_strength=1.0, n_boot=50)
    assert crossed.value == pytest.approx(563 / 405)


SCORES = [0.4, 0.2, 0.1, 0.2, 0.5, 0.3, 0.6]  # the logger's prediction per SUPPORT row


def test_doubly_robust_rescales_the_loggers_scores_by_hand(hand):
    scored = LoggedSlates.from_frames(SHOWN, SUPPORT.assign(score=SCORES))
    # α = 0, no cross-fitting: c_i = Σ r / Σ θ_j b(s, i) over the item's rows, â(s, i) = c_i b(s, i).
    #   c_10 = 3 / (0.4 + 0.5·0.2 + 0.5·0.3) = 60/13, c_11 = 1 / (0.5·0.2 + 0.5) = 5/3, c_12 = 0.
    # Direct: s0 1·(60/13·0.4) = 24/13, s1 60/13·0.2 + 0.5·(5/3·0.5) = 12/13 + 5/12, s2 0.5·(60/13·0.3) = 9/13.
    # Residuals w (r − θ_j â): s0 8/5·(1 − 24/13) = −88/65; s1 2/3·(1 − 5/6) = 1/9 and
    # 4/3·(1 − 6/13) = 28/39; s2 4/3·0 and 1·(1 − 9/13) = 4/13. Mean over 3 sessions: 659/540.
    estimate = doubly_robust(scored, TARGET, "click", theta=THETA, prior_strength=0.0, cross_fit=False, n_boot=50)
    assert estimate.value == pytest.approx(659 / 540)
    # A constant score carries no information about the user: the per-item model comes back exactly.
    constant = LoggedSlates.from_frames(SHOWN, SUPPORT.assign(score=0.25))
    same = doubly_robust(constant, TARGET, "click", theta=THETA, prior_strength=1.0, cross_fit=False, n_boot=50)
    assert same.value == pytest.approx(1702 / 1215)
    with pytest.raises(ValueError, match="support_score must be finite and > 0"):
        LoggedSlates.from_frames(SHOWN, SUPPORT.assign(score=[0.4, 0.0, 0.1, 0.2, 0.5, 0.3, 0.6]))


def test_examination_is_harvested_from_items_shown_at_several_positions(hand):
    # ρ = min_k π_0(i, k); weight ρ / π_0(i at logged slot) on clicks:
    #   position 1: s0 10 0.25/0.5 = 0.5, s1 11 0.5/0.5 = 1 → 1.5 (s2's 12 has ρ = 0)
    #   position 2: s1 10 1, s2 10 0.25/0.5 = 0.5 → 1.5 (s0's 11 did not click)
    np.testing.assert_allclose(estimate_examination(hand), [1.0, 1.0])
    no_first_clicks = SHOWN.assign(click=np.where(SHOWN["position"] == 1, 0.0, SHOWN["click"]))
    with pytest.raises(ValueError, match="no clicks at position 1"):
        estimate_examination(LoggedSlates.from_frames(no_first_clicks, SUPPORT))


def test_support_coverage_by_hand(hand):
    assert support_coverage(hand, TARGET, THETA) == 1.0
    # θ-weighted slots 1.5 per session; uncovered: 12 in s1 and 11 in s2, both at θ = 1:
    # (4.5 − 2) / 4.5 = 5/9. Position-exact also loses 12 at position 2 in s2 (π_0 = 0): 3/6.
    assert support_coverage(hand, OFF_SUPPORT, THETA) == pytest.approx(5 / 9)
    assert support_coverage(hand, OFF_SUPPORT, exact_position=True) == pytest.approx(0.5)
    # A threshold of 0.6 on Σ_k θ_k π_0 drops two slot-2 items (weight 0.5 each): 12 in s0
    # (0.25 + 0.125 = 0.375) and 10 in s2 (0.25 + 0.25 = 0.5); the rest clear it: 3.5 / 4.5.
    assert support_coverage(hand, TARGET, THETA, min_marginal=0.6) == pytest.approx(7 / 9)
    assert ips(hand, OFF_SUPPORT, n_boot=50).support == pytest.approx(0.5)
    assert pbm(hand, OFF_SUPPORT, theta=THETA, n_boot=50).support == pytest.approx(5 / 9)


def test_compare_reports_numbers_but_refuses_a_verdict_off_support(hand):
    lift = compare(hand, OFF_SUPPORT, TARGET, "click", estimator="pbm", theta=THETA, n_boot=200)
    assert lift.verdict is None
    assert lift.refusal == (
        "no OPE verdict: the control's slates leave the logging policy's support (coverage 0.56 < 0.95)"
    )
    assert lift.treatment.value == pytest.approx(23 / 15)
    assert np.isfinite(lift.control.value) and lift.lift == pytest.approx(lift.treatment.value - lift.control.value)
    assert (lift.support_control, lift.support_treatment) == (pytest.approx(5 / 9), 1.0)
    record = lift.as_dict()
    assert record["verdict"] is None and record["treatment"]["value"] == pytest.approx(23 / 15)
    ok = compare(hand, TARGET, TARGET, "click", estimator="pbm", theta=THETA, min_support=0.5, n_boot=200)
    assert ok.refusal is None and ok.verdict == "no difference"
    assert (ok.lift, ok.lift_ci_low, ok.lift_ci_high) == (0.0, 0.0, 0.0)


def test_effective_sample_size():
    assert effective_sample_size(np.array([1.0, 1.0, 1.0, 1.0])) == 4.0
    assert effective_sample_size(np.array([2.0, 0.0, 0.0])) == 1.0
    assert effective_sample_size(np.zeros(3)) == 0.0


def test_validation_names_the_problem(hand):
    def frames(shown_changes: dict | None = None, support_changes: dict | None = None):
        return LoggedSlates.from_frames(
            SHOWN.assign(**(shown_changes or {})), SUPPORT.assign(**(support_changes or {}))
        )

    with pytest.raises(ValueError, match=r"propensities must lie in \(0, 1\]"):
        frames({"propensity": [0.5, 0.0, 0.5, 1.0, 0.75, 1.0]})
    with pytest.raises(ValueError, match=r"positions must lie in 1..2"):
        frames({"position": [1, 3, 1, 2, 1, 2]})
    with pytest.raises(ValueError, match="support marginals must lie in"):
        frames(support_changes={"m_1": [1.5, 0.25, 0.25, 0.5, 0.5, 0.25, 0.75]})
    with pytest.raises(ValueError, match="sum above 1 over items"):
        frames(support_changes={"m_1": [0.5, 0.5, 0.25, 0.5, 0.5, 0.25, 0.75]})
    with pytest.raises(ValueError, match="shown item 12 of session 2 has logging marginal 0 at its position 2"):
        frames({"position": [1, 2, 1, 2, 2, 1]})
    with pytest.raises(ValueError, match="shown item 11 of session 2 is missing from the logging support"):
        frames({"item": [10, 11, 11, 10, 11, 10]})
    with pytest.raises(ValueError, match="share a session and position"):
        frames({"position": [1, 1, 1, 2, 1, 2]})
    with pytest.raises(ValueError, match=r"target slates must be \(n_sessions, slate_size\) = \(3, 2\)"):
        ips(hand, TARGET[:2])
    with pytest.raises(ValueError, match="shows an item twice"):
        ips(hand, np.array([[10, 10], [10, 11], [12, 10]]))
    with pytest.raises(ValueError, match="reward must be one of"):
        ips(hand, TARGET, "revenue")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="estimator must be one of"):
        compare(hand, TARGET, TARGET, "click", estimator="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one examination probability per position"):
        pbm(hand, TARGET, theta=np.array([1.0, 0.5, 0.2]))


# The simulated world: 5 items, K = 3, two user types with their own attractiveness and their
# own Plackett-Luce logging policy; clicks follow a PBM, timespent accrues only after a click.
EXAMINATION = np.array([1.0, 0.6, 0.35])
ATTRACTIVENESS = np.array([[0.5, 0.2, 0.35, 0.1, 0.6], [0.15, 0.55, 0.3, 0.45, 0.2]])
DWELL = np.array([30.0, 60.0, 45.0, 20.0, 50.0])  # mean seconds per click
LOGGING_LOGITS = np.array([[0.5, 0.0, 0.3, -0.4, 0.2], [0.0, 0.4, -0.2, 0.3, 0.1]])
GOOD = np.array([[4, 0, 2], [1, 3, 2]])  # item indices per user type
POOR = np.array([[3, 1, 0], [0, 4, 2]])
ITEM_IDS = np.arange(100, 105)
SESSIONS = 60_000


def plackett_luce_marginals(scaled_logits: np.ndarray, k: int) -> np.ndarray:
    """Exact P(item at position j) of an uncapped PL draw, by enumerating ordered k-tuples."""
    weights = np.exp(scaled_logits)
    marginals = np.zeros((len(weights), k))
    for tuple_ in itertools.permutations(range(len(weights)), k):
        remaining, probability = weights.sum(), 1.0
        for item in tuple_:
            probability *= weights[item] / remaining
            remaining -= weights[item]
        marginals[list(tuple_), np.arange(k)] += probability
    return marginals


@pytest.fixture(scope="module")
def world() -> tuple[LoggedSlates, np.ndarray]:
    rng = np.random.default_rng(11)
    k, n_items = len(EXAMINATION), len(ITEM_IDS)
    user_type = rng.integers(0, 2, size=SESSIONS)
    slates = np.empty((SESSIONS, k), dtype=np.int64)
    for kind in (0, 1):
        rows = np.flatnonzero(user_type == kind)
        slates[rows] = sample_slates(LOGGING_LOGITS[kind], np.arange(n_items), np.ones(n_items, bool), k, None,
                                     len(rows), rng)  # fmt: skip
    weights = np.exp(LOGGING_LOGITS)[user_type[:, None], slates]
    propensity = weights / (
        np.exp(LOGGING_LOGITS)[user_type].sum(axis=1, keepdims=True) - (weights.cumsum(1) - weights)
    )
    clicks = rng.random((SESSIONS, k)) < EXAMINATION * ATTRACTIVENESS[user_type[:, None], slates]
    timespent = clicks * rng.exponential(DWELL[slates])
    exact = np.stack([plackett_luce_marginals(LOGGING_LOGITS[kind], k) for kind in (0, 1)])
    logged = LoggedSlates(
        session=np.repeat(np.arange(SESSIONS), k),
        item=ITEM_IDS[slates].ravel(),
        position=np.tile(np.arange(1, k + 1), SESSIONS),
        click=clicks.ravel().astype(float),
        timespent=timespent.ravel(),
        propensity=propensity.ravel(),
        support_session=np.repeat(np.arange(SESSIONS), n_items),
        support_item=np.tile(ITEM_IDS, SESSIONS),
        support_marginal=exact[user_type].reshape(-1, k),
        n_sessions=SESSIONS,
        slate_size=k,
    )
    return logged, user_type


def truth(user_type: np.ndarray, slates_by_type: np.ndarray, reward: str) -> float:
    """Exact expected reward per slate for these sessions: Σ_k θ_k a(u, t_k) (× dwell)."""
    chosen = slates_by_type[user_type]
    per_slot = EXAMINATION * ATTRACTIVENESS[user_type[:, None], chosen]
    return float((per_slot * (DWELL[chosen] if reward == "timespent" else 1.0)).sum(axis=1).mean())


def test_examination_is_recovered_from_the_simulated_log(world):
    logged, _ = world
    np.testing.assert_allclose(estimate_examination(logged), EXAMINATION, atol=0.03)


@pytest.mark.parametrize("reward", ["click", "timespent"])
def test_estimators_are_unbiased_against_the_known_click_model(world, reward):
    logged, user_type = world
    target = ITEM_IDS[GOOD[user_type]]
    expected = truth(user_type, GOOD, reward)
    estimates = {
        "ips": ips(logged, target, reward, n_boot=200),
        "snips": snips(logged, target, reward, n_boot=200),
        "pbm (true θ)": pbm(logged, target, reward, theta=EXAMINATION, n_boot=200),
        "pbm (estimated θ)": pbm(logged, target, reward, n_boot=200),
        "doubly robust": doubly_robust(logged, target, reward, n_boot=200),
    }
    for name, estimate in estimates.items():
        standard_error = (estimate.ci_high - estimate.ci_low) / (2 * 1.96)
        # Within 4 bootstrap standard errors, and the standard error itself small (≤ 2% of truth).
        assert abs(estimate.value - expected) <= 4 * standard_error, (name, estimate, expected)
        assert standard_error <= 0.02 * expected, (name, estimate)
        assert estimate.support == 1.0
    # Modelling the reward and crediting every position pays off in variance.
    width = {name: e.ci_high - e.ci_low for name, e in estimates.items()}
    assert width["pbm (true θ)"] < width["ips"]
    assert estimates["pbm (true θ)"].ess > estimates["ips"].ess


def test_compare_finds_the_better_policy_and_its_size(world):
    logged, user_type = world
    good, poor = ITEM_IDS[GOOD[user_type]], ITEM_IDS[POOR[user_type]]
    true_lift = truth(user_type, GOOD, "click") - truth(user_type, POOR, "click")
    win = compare(logged, poor, good, "click", n_boot=200)
    assert win.verdict == "win" and win.refusal is None
    assert win.lift_ci_low <= true_lift <= win.lift_ci_high
    assert win.relative_lift == pytest.approx(win.lift / win.control.value)
    assert win.relative_ci_low <= win.relative_lift <= win.relative_ci_high
    assert compare(logged, good, poor, "timespent", estimator="pbm", n_boot=200).verdict == "loss"
    same = compare(logged, good, good, "click", n_boot=200)
    assert same.verdict == "no difference" and same.lift == 0.0


def test_a_user_aware_reward_model_narrows_doubly_robust_and_a_wrong_one_keeps_it_unbiased(world):
    logged, user_type = world
    target = ITEM_IDS[GOOD[user_type]]
    expected = truth(user_type, GOOD, "timespent")
    # The logger knows each session's user type: its prediction is the true attractiveness.
    aware = replace(logged, support_score=ATTRACTIVENESS[user_type].ravel())
    # A logger whose scores are noise: the residual correction must undo the model's bias.
    noise = np.random.default_rng(5).uniform(0.05, 1.0, size=logged.support_item.size)
    wrong = replace(logged, support_score=noise)
    estimates = {
        name: doubly_robust(data, target, "timespent", n_boot=200)
        for name, data in (("per item", logged), ("user-aware", aware), ("wrong", wrong))
    }
    for name, estimate in estimates.items():
        standard_error = (estimate.ci_high - estimate.ci_low) / (2 * 1.96)
        assert abs(estimate.value - expected) <= 4 * standard_error, (name, estimate, expected)
    width = {name: e.ci_high - e.ci_low for name, e in estimates.items()}
    assert width["user-aware"] < width["per item"]
