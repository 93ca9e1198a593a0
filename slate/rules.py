"""Business rules applied after ranking, and the slate policy that logs its propensities.

Pure functions of arrays, so each rule is tested on hand-written inputs. The slate is drawn
position by position from the items still eligible (not seen, category below its cap):
greedily when ``temperature`` is 0, else by Plackett-Luce sampling on the score logits, and
each shown item carries P(chosen at its position | items above it). Those are the serving
propensities the feedback log records for off-policy evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOGIT_EPS = 1e-6
# The served list's shape, shared by serving's defaults and offline evaluation, so the list a
# model is judged on is the list it would serve.
CANDIDATES = 200  # items retrieved per user
MAX_PER_CATEGORY = 3  # business rule: at most this many items of one category in a slate


def unseen_mask(item_ids: np.ndarray, seen: np.ndarray | list[int] | set[int]) -> np.ndarray:
    """True for candidates the user has not consumed yet."""
    seen_array = np.fromiter(seen, dtype=np.int64) if isinstance(seen, set) else np.asarray(seen, dtype=np.int64)
    return ~np.isin(item_ids, seen_array)


def logits(scores: np.ndarray) -> np.ndarray:
    """Calibrated probabilities back to the logit scale, where a temperature is meaningful."""
    clipped = np.clip(scores, LOGIT_EPS, 1.0 - LOGIT_EPS)
    return np.log(clipped) - np.log1p(-clipped)


@dataclass(frozen=True)
class Slate:
    positions: np.ndarray  # indices into the candidate arrays, in display order
    propensities: np.ndarray  # P(item at j | items above), aligned with positions


def draw_slate(
    scores: np.ndarray,
    categories: np.ndarray,
    eligible: np.ndarray,
    k: int,
    max_per_category: int | None,
    temperature: float = 0.0,
    rng: np.random.Generator | None = None,
    probabilities: np.ndarray | None = None,
) -> Slate:
    """Up to ``k`` eligible candidates with at most ``max_per_category`` per category.

    ``temperature == 0`` takes the best remaining ``scores`` at each position (propensity 1);
    ties go to the earlier candidate, i.e. the retrieval order. ``temperature > 0`` samples from
    softmax(logit(p) / temperature) over what remains, where ``p`` is ``probabilities`` (calibrated
    P(click)) when given, else ``scores``.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if max_per_category is not None and max_per_category < 1:
        raise ValueError(f"max_per_category must be >= 1 or None, got {max_per_category}")
    if temperature > 0 and rng is None:
        raise ValueError("a positive temperature needs a random generator")
    remaining = np.asarray(eligible, dtype=bool).copy()
    weights = None
    if temperature > 0:
        scaled = logits(scores if probabilities is None else probabilities) / temperature
        weights = np.exp(scaled - scaled[remaining].max()) if remaining.any() else None
    per_category: dict[int, int] = {}
    chosen: list[int] = []
    propensities: list[float] = []
    while len(chosen) < k and remaining.any():
        candidates = np.flatnonzero(remaining)
        if weights is None:
            # Stable on ties: the earlier candidate (the retrieval order) wins.
            pick = int(candidates[np.argmax(scores[candidates])])
            probability = 1.0
        else:
            mass = weights[candidates]
            probabilities = mass / mass.sum()
            index = int(rng.choice(len(candidates), p=probabilities))
            pick, probability = int(candidates[index]), float(probabilities[index])
        chosen.append(pick)
        propensities.append(probability)
        remaining[pick] = False
        category = int(categories[pick])
        per_category[category] = per_category.get(category, 0) + 1
        if max_per_category is not None and per_category[category] >= max_per_category:
            remaining &= categories != category
    return Slate(positions=np.asarray(chosen, dtype=np.int64), propensities=np.asarray(propensities, dtype=np.float64))


def rank_candidates(
    item_ids: np.ndarray,
    order: np.ndarray,
    categories: np.ndarray,
    seen: np.ndarray | list[int] | set[int],
    k: int,
    max_per_category: int | None = MAX_PER_CATEGORY,
) -> np.ndarray:
    """Positions (into the candidate arrays) of the list a user is served greedily: seen items
    dropped, best ``order`` first with ties to the earlier (retrieval-order) candidate, category
    cap applied. Serving and offline evaluation both call this, so they cannot disagree."""
    eligible = unseen_mask(np.asarray(item_ids, dtype=np.int64), seen)
    return draw_slate(np.asarray(order, dtype=np.float64), categories, eligible, k, max_per_category).positions
