"""Marginal item × position probabilities of the slate policy in ``slate.rules``.

Serving logs each shown item's *conditional* propensity P(item at j | items above), which is
what the sampler knows at each step. Off-policy estimators for slates need the *marginal*
P(candidate c shown at position j) for every candidate, shown or not. For Plackett-Luce with a
category cap there is no closed form, so it is estimated by Monte Carlo with the Gumbel-top-k
trick, vectorised over samples instead of looping over ``draw_slate``.

Why the Gumbel construction draws exactly ``draw_slate``'s slates: give every eligible candidate
the key ``l_c + G_c`` (``l`` the scaled logits, ``G`` i.i.d. standard Gumbel), sort the keys in
descending order and skip an item iff its category already has ``max_per_category`` items
above it in that order; the first ``k`` survivors are the slate. Induction on the position:
after ``j`` survivors, the keys of the still-allowed items A (not taken, category below its cap)
are independent Gumbels conditioned only on lying below the last key popped (skipped items are
independent of them, and once a category is full it stays full, so skipping never depends on
anything but the within-category rank). The argmax of independent Gumbels is independent of
their max, so conditioning on "max below a threshold" leaves the argmax distributed as
softmax(l) over A: the next survivor is chosen with exactly the probability ``draw_slate``
uses at position ``j + 1``.
"""

from __future__ import annotations

import numpy as np

from slate.rules import draw_slate, logits

SAMPLE_BUDGET = 4_000_000  # Gumbel keys per chunk: bounds memory, not the result


def _within_category_rank(categories_in_order: np.ndarray) -> np.ndarray:
    """Per row, how many items of the same category come earlier in the row."""
    rows, width = categories_in_order.shape
    position = np.arange(width)
    # Category-major, order-minor keys are unique per row: one sort groups each category in order.
    grouped = np.sort(categories_in_order * width + position, axis=1)
    grouped_category, grouped_position = np.divmod(grouped, width)
    starts = np.ones((rows, width), dtype=bool)
    starts[:, 1:] = grouped_category[:, 1:] != grouped_category[:, :-1]
    group_start = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    rank = np.empty_like(grouped)
    np.put_along_axis(rank, grouped_position, position - group_start, axis=1)
    return rank


def _validate(
    weights_logits: np.ndarray, categories: np.ndarray, eligible: np.ndarray, k: int, max_per_category: int | None
) -> None:
    if not (weights_logits.ndim == 1 and weights_logits.shape == categories.shape == eligible.shape):
        raise ValueError(
            "weights_logits, categories and eligible must be 1-d arrays of one length, got shapes "
            f"{weights_logits.shape}, {categories.shape}, {eligible.shape}"
        )
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if max_per_category is not None and max_per_category < 1:
        raise ValueError(f"max_per_category must be >= 1 or None, got {max_per_category}")
    if not np.isfinite(weights_logits[eligible]).all():
        raise ValueError("eligible candidates need finite logits")


def sample_slates(
    weights_logits: np.ndarray,
    categories: np.ndarray,
    eligible: np.ndarray,
    k: int,
    max_per_category: int | None,
    n_samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_samples, k) candidate indices of independent slates, each distributed as one
    ``draw_slate`` call at the temperature folded into ``weights_logits`` (``logits(p) / T``);
    -1 fills the slots left empty when the cap runs out of items, as ``draw_slate`` returns
    fewer."""
    weights_logits = np.asarray(weights_logits, dtype=np.float64)
    categories, eligible = np.asarray(categories), np.asarray(eligible, dtype=bool)
    _validate(weights_logits, categories, eligible, k, max_per_category)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    slates = np.full((n_samples, k), -1, dtype=np.int64)
    candidates = np.flatnonzero(eligible)
    if k == 0 or candidates.size == 0:
        return slates
    scaled = weights_logits[candidates]
    codes = np.unique(categories[candidates], return_inverse=True)[1].astype(np.int64)
    chunk = max(1, SAMPLE_BUDGET // candidates.size)
    for start in range(0, n_samples, chunk):
        rows = min(chunk, n_samples - start)
        keys = scaled + rng.gumbel(size=(rows, candidates.size))
        order = np.argsort(-keys, axis=1)
        if max_per_category is None:
            keep = np.ones(order.shape, dtype=bool)
        else:
            keep = _within_category_rank(codes[order]) < max_per_category
        slot = np.cumsum(keep, axis=1) - 1
        row, column = np.nonzero(keep & (slot < k))
        slates[start + row, slot[row, column]] = candidates[order[row, column]]
    return slates


def slate_marginals(
    weights_logits: np.ndarray,
    categories: np.ndarray,
    eligible: np.ndarray,
    k: int,
    max_per_category: int | None,
    n_samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(C, k) Monte Carlo estimate of P(candidate c shown at position j) under ``draw_slate``.

    ``weights_logits`` are the sampler's scaled logits, ``logits(p) / temperature`` (see the
    module docstring for why the Gumbel-top-k draw is the sequential sampler). Each entry is a
    mean of ``n_samples`` Bernoulli indicators, so its standard error is
    sqrt(m (1 - m) / n_samples) <= 0.5 / sqrt(n_samples) (``marginal_standard_error``). Rows sum
    to at most 1; a column sums to 1 while the cap leaves items to fill that position.
    """
    slates = sample_slates(weights_logits, categories, eligible, k, max_per_category, n_samples, rng)
    filled = slates >= 0
    cells = slates[filled] * k + np.nonzero(filled)[1]
    counts = np.bincount(cells, minlength=len(np.asarray(categories)) * k)
    return counts.reshape(-1, k) / n_samples


def marginal_standard_error(marginals: np.ndarray, n_samples: int) -> np.ndarray:
    """Plug-in standard error of each Monte Carlo marginal; never above 0.5 / sqrt(n_samples)."""
    marginals = np.asarray(marginals, dtype=np.float64)
    return np.sqrt(marginals * (1.0 - marginals) / n_samples)


def greedy_marginals(
    scores: np.ndarray, categories: np.ndarray, eligible: np.ndarray, k: int, max_per_category: int | None
) -> np.ndarray:
    """(C, k) one-hot marginals of the temperature-0 slate: deterministic, so read off
    ``draw_slate`` itself rather than sampled, ties and all."""
    scores = np.asarray(scores, dtype=np.float64)
    slate = draw_slate(scores, np.asarray(categories), np.asarray(eligible, dtype=bool), k, max_per_category)
    marginals = np.zeros((len(scores), k))
    marginals[slate.positions, np.arange(len(slate.positions))] = 1.0
    return marginals


def policy_marginals(
    scores: np.ndarray,
    categories: np.ndarray,
    eligible: np.ndarray,
    k: int,
    max_per_category: int | None,
    temperature: float,
    n_samples: int,
    rng: np.random.Generator,
    probabilities: np.ndarray | None = None,
) -> np.ndarray:
    """Marginals of ``draw_slate`` called with the same arguments: exact one-hot at temperature
    0, else Monte Carlo on softmax(logit(p) / temperature) with ``p`` chosen as draw_slate does."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return greedy_marginals(scores, categories, eligible, k, max_per_category)
    scaled = logits(np.asarray(scores if probabilities is None else probabilities, dtype=np.float64)) / temperature
    return slate_marginals(scaled, categories, eligible, k, max_per_category, n_samples, rng)
