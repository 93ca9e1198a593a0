"""Slate marginals: the vectorised Gumbel-top-k sampler against exact Plackett-Luce marginals and
against ``draw_slate`` itself, so off-policy weights rest on the policy serving really runs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from slate.marginals import (
    greedy_marginals,
    marginal_standard_error,
    policy_marginals,
    sample_slates,
    slate_marginals,
)
from slate.rules import draw_slate, logits

SIGMAS = 5  # tolerance in standard errors: a correct sampler fails this about once in 10^6 entries


def plackett_luce_marginals(scaled_logits: np.ndarray, k: int) -> np.ndarray:
    """Exact P(item at position j) by enumerating every ordered k-tuple of an uncapped PL draw."""
    weights = np.exp(scaled_logits)
    marginals = np.zeros((len(weights), k))
    for tuple_ in itertools.permutations(range(len(weights)), k):
        remaining, probability = weights.sum(), 1.0
        for item in tuple_:
            probability *= weights[item] / remaining
            remaining -= weights[item]
        marginals[list(tuple_), np.arange(k)] += probability
    return marginals


def test_uncapped_marginals_match_exact_plackett_luce():
    # Weights 4:2:1 (logits log 4, log 2, 0). By hand, position 1: 4/7, 2/7, 1/7; item 0 at
    # position 2: P(1 first)·4/5 + P(2 first)·4/6 = 2/7·4/5 + 1/7·2/3 = 24/105 + 10/105 = 34/105.
    scaled = np.log(np.array([4.0, 2.0, 1.0]))
    exact = plackett_luce_marginals(scaled, 3)
    np.testing.assert_allclose(exact[:, 0], [4 / 7, 2 / 7, 1 / 7])
    assert exact[0, 1] == pytest.approx(34 / 105)
    n = 200_000
    estimated = slate_marginals(scaled, np.array([1, 2, 3]), np.ones(3, bool), 3, None, n, np.random.default_rng(0))
    bound = 0.5 / np.sqrt(n)
    assert np.all(marginal_standard_error(estimated, n) <= bound + 1e-12)
    np.testing.assert_allclose(estimated, exact, atol=SIGMAS * bound)
    np.testing.assert_allclose(estimated.sum(axis=0), 1.0)  # every slot filled: 3 eligible, k = 3
    np.testing.assert_allclose(estimated.sum(axis=1), 1.0)  # and every item shown once


def test_capped_marginals_match_draw_slate_frequencies():
    probabilities = np.array([0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.9])
    categories = np.array([1, 1, 1, 2, 2, 3, 3])
    eligible = np.array([True, True, True, True, True, True, False])  # the best item is seen
    k, cap, temperature = 4, 2, 0.7
    draws = 10_000
    rng = np.random.default_rng(7)
    empirical = np.zeros((7, k))
    for _ in range(draws):
        slate = draw_slate(probabilities, categories, eligible, k, cap, temperature=temperature, rng=rng)
        empirical[slate.positions, np.arange(len(slate.positions))] += 1
    empirical /= draws
    n = 200_000
    scaled = logits(probabilities) / temperature
    estimated = slate_marginals(scaled, categories, eligible, k, cap, n, np.random.default_rng(1))
    # Two independent Monte Carlo means: the standard error of their difference is at most
    # 0.5 · sqrt(1/draws + 1/n).
    np.testing.assert_allclose(estimated, empirical, atol=SIGMAS * 0.5 * np.sqrt(1 / draws + 1 / n))
    assert np.all(estimated[6] == 0)  # ineligible: never shown
    assert estimated[:3].sum() <= 2.0  # expected count of category 1 in a slate: at most the cap
    np.testing.assert_allclose(estimated.sum(axis=0), 1.0)  # 6 eligible, caps leave 5 >= k: full
    assert np.all(estimated.sum(axis=1) <= 1 + 1e-12)


def test_policy_marginals_at_temperature_match_the_sampler_on_the_same_probabilities():
    probabilities = np.array([0.6, 0.3, 0.1])
    n = 100_000
    estimated = policy_marginals(
        probabilities, np.array([1, 2, 3]), np.ones(3, bool), 2, None, 1.0, n, np.random.default_rng(2)
    )
    exact = plackett_luce_marginals(logits(probabilities), 2)
    np.testing.assert_allclose(estimated, exact, atol=SIGMAS * 0.5 / np.sqrt(n))


def test_columns_fall_short_exactly_when_the_cap_runs_out_of_items():
    # Categories 1, 1, 1, 2 with cap 1: every slate is one of category 1 then item 3, or the reverse.
    scaled = np.array([0.3, 0.2, 0.1, 0.0])
    estimated = slate_marginals(
        scaled, np.array([1, 1, 1, 2]), np.ones(4, bool), 3, 1, 20_000, np.random.default_rng(3)
    )
    np.testing.assert_allclose(estimated.sum(axis=0), [1.0, 1.0, 0.0])
    assert estimated[:3].sum() == pytest.approx(1.0)
    assert estimated[3].sum() == pytest.approx(1.0)


def test_sampled_slates_respect_cap_and_eligibility():
    rng = np.random.default_rng(4)
    categories = np.arange(40) % 4
    eligible = rng.random(40) < 0.8
    slates = sample_slates(rng.normal(size=40), categories, eligible, 10, 3, 5_000, rng)
    assert slates.shape == (5_000, 10)
    assert np.all(slates >= 0)  # 4 categories x cap 3 = 12 >= 10 slots when enough are eligible
    assert np.all(eligible[slates])
    for category in range(4):
        assert np.all((categories[slates] == category).sum(axis=1) <= 3)
    ordered = np.sort(slates, axis=1)
    assert np.all(ordered[:, 1:] != ordered[:, :-1])  # no item twice in a slate


def test_greedy_marginals_are_draw_slates_greedy_choice():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    categories = np.array([1, 1, 1, 2, 2, 3])
    marginals = greedy_marginals(scores, categories, np.ones(6, bool), 4, 2)
    expected = np.zeros((6, 4))
    expected[[0, 1, 3, 4], [0, 1, 2, 3]] = 1.0  # as in test_rules: the third of category 1 is capped out
    np.testing.assert_array_equal(marginals, expected)
    zero_temperature = policy_marginals(scores, categories, np.ones(6, bool), 4, 2, 0.0, 1, np.random.default_rng())
    np.testing.assert_array_equal(zero_temperature, expected)


def test_marginals_reject_bad_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="one length"):
        slate_marginals(np.zeros(3), np.zeros(2), np.ones(3, bool), 2, None, 10, rng)
    with pytest.raises(ValueError, match="max_per_category must be >= 1"):
        slate_marginals(np.zeros(3), np.zeros(3), np.ones(3, bool), 2, 0, 10, rng)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        slate_marginals(np.zeros(3), np.zeros(3), np.ones(3, bool), 2, None, 0, rng)
    with pytest.raises(ValueError, match="finite logits"):
        slate_marginals(np.array([0.0, np.nan, 1.0]), np.zeros(3), np.ones(3, bool), 2, None, 10, rng)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        policy_marginals(np.zeros(3), np.zeros(3), np.ones(3, bool), 2, None, -1.0, 10, rng)
