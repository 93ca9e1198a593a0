"""The ranker's training rows: what the first stage really retrieves, day by day.

Serving asks the ranker to reorder SASRec's top ``CANDIDATES`` for a user, so the ranker learns
from exactly that: for each day D of its window and each user who clicked on D, the top
``CANDIDATES`` retrieved with the user's embedding as of midnight D (items the user already
consumed dropped, as serving drops them), labelled 1 when the user clicked the item on D.
Negatives are sampled from the same candidates, stratified by retrieval rank, so hard negatives
near the top are kept and the set stays trainable on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import faiss
import numpy as np
import pandas as pd

from slate.rules import CANDIDATES

NOT_RETRIEVED_RANK = CANDIDATES  # the rank feature of an item SASRec did not retrieve
POPULAR_CANDIDATES = 100  # the popularity source's items in the ranker's pool
POPULARITY_DAYS = 14  # the popular list counts clicks of this many days before the moment
NEGATIVES_PER_POSITIVE = 20
# Bands of retrieval rank the negatives are drawn across; the last holds the popular additions.
RANK_STRATA = (0, 10, 50, 100, CANDIDATES, CANDIDATES + 1)
MAX_IMPRESSION_WEIGHT = 20.0  # 1 / propensity, clipped: a rare draw may not dominate the fit


@dataclass(frozen=True)
class Retrieved:
    """One user's first-stage list at one moment (ranks are 0-based retrieval positions)."""

    item_ids: np.ndarray
    ranks: np.ndarray


def retrieve(
    index: faiss.Index, item_ids: np.ndarray, vectors: np.ndarray, seen: list[np.ndarray], k: int = CANDIDATES
) -> list[Retrieved]:
    """Top ``k`` items per user vector by inner product, the user's consumed items dropped (ranks
    keep their position before the drop, as serving computes them)."""
    if len(vectors) == 0:
        return []
    _, positions = index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(k, len(item_ids)))
    out = []
    for row, user_seen in zip(positions, seen, strict=True):
        ranks = np.flatnonzero(row >= 0)
        items = item_ids[row[ranks]]
        keep = ~np.isin(items, user_seen)
        out.append(Retrieved(items[keep], ranks[keep]))
    return out


def retrieve_users(
    index: faiss.Index, item_ids: np.ndarray, states: dict[int, tuple[np.ndarray, np.ndarray]]
) -> dict[int, Retrieved]:
    """``retrieve`` for users' (embedding, consumed items) states, keyed by user id."""
    if not states:
        return {}
    vectors = np.stack([vector for vector, _ in states.values()])
    found = retrieve(index, item_ids, vectors, [seen for _, seen in states.values()])
    return dict(zip(states, found, strict=True))


def popularity_order(popular: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """The popularity configuration's order score: minus each item's place in ``popular`` (most
    clicked first); items outside it share the lowest score."""
    place = {int(item): rank for rank, item in enumerate(np.asarray(popular).tolist())}
    return -np.asarray([place.get(int(i), len(place)) for i in item_ids], dtype=np.float64)


def with_popular(found: Retrieved, popular: np.ndarray, seen: np.ndarray) -> Retrieved:
    """The ranker's pool: SASRec's candidates, then the popular items it did not retrieve (rank
    ``NOT_RETRIEVED_RANK``), the user's consumed items left out. Two sources, as production
    retrieval has: where recent popularity predicts better than the sequence model (a catalogue
    of new releases), the ranker can still put the popular items first."""
    extra = popular[~np.isin(popular, found.item_ids) & ~np.isin(popular, seen)]
    return Retrieved(
        np.concatenate([found.item_ids, extra]).astype(np.int64),
        np.concatenate([found.ranks, np.full(len(extra), NOT_RETRIEVED_RANK)]).astype(np.int64),
    )


def sample_negatives(
    ranks: np.ndarray, labels: np.ndarray, rng: np.random.Generator, per_positive: int = NEGATIVES_PER_POSITIVE
) -> np.ndarray:
    """Indices of the rows to keep: every positive and ``per_positive`` negatives per positive,
    stratified by ``RANK_STRATA`` with proportional allocation (each band gives its share of the
    negatives, at least one where it has any). Every negative is kept at about the same rate, so
    the rank-to-click relation the ranker learns is the real one; over-drawing the top band would
    teach it that a low retrieval rank costs little. No positive: nothing."""
    positives = np.flatnonzero(labels == 1)
    negatives = labels == 0
    if len(positives) == 0:
        return positives
    rate = min(1.0, per_positive * len(positives) / max(int(negatives.sum()), 1))
    keep = [positives]
    for low, high in pairwise(RANK_STRATA):
        pool = np.flatnonzero(negatives & (ranks >= low) & (ranks < high))
        if len(pool):
            size = min(len(pool), max(1, round(rate * len(pool))))
            keep.append(rng.choice(pool, size=size, replace=False))
    return np.sort(np.concatenate(keep))


def day_candidates(
    retrieved: dict[int, Retrieved],
    clicked: pd.DataFrame,
    day: pd.Timestamp,
    rng: np.random.Generator,
    sample: bool = True,
) -> pd.DataFrame:
    """Labelled candidate rows of one day: one session per user (``cand-<user>-<day>``), the
    retrieval rank as ``position`` (1-based) and as ``retrieval_rank``, ``ts`` at midnight D.
    ``clicked`` holds the day's (user_id, item_id) clicks. Without ``sample`` every candidate of
    a user with a retrieved click is kept."""
    positives = clicked.groupby("user_id")["item_id"].apply(lambda s: set(s.tolist())).to_dict()
    frames = []
    for user, found in retrieved.items():
        wanted = positives.get(user, set())
        labels = np.fromiter((int(i) in wanted for i in found.item_ids), dtype=np.int64, count=len(found.item_ids))
        keep = sample_negatives(found.ranks, labels, rng) if sample else np.arange(len(labels))
        if not labels.any() or len(keep) == 0:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "session_id": f"cand-{user}-{day.date().isoformat()}",
                    "user_id": user,
                    "item_id": found.item_ids[keep],
                    "ts": day,
                    "position": found.ranks[keep] + 1,
                    "label": labels[keep],
                    "retrieval_rank": found.ranks[keep].astype(np.float64),
                    "weight": 1.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def rank_lookup(retrieved: dict[int, Retrieved], user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """Each (user, item)'s retrieval rank, ``NOT_RETRIEVED_RANK`` when it was not retrieved."""
    rank_of = {
        (user, int(item)): int(rank)
        for user, found in retrieved.items()
        for item, rank in zip(found.item_ids, found.ranks, strict=True)
    }
    return np.asarray(
        [rank_of.get((int(u), int(i)), NOT_RETRIEVED_RANK) for u, i in zip(user_ids, item_ids, strict=True)],
        dtype=np.float64,
    )


def propensity_weights(propensities: pd.Series) -> np.ndarray:
    """Inverse-propensity weights of logged impressions, clipped, then scaled to mean 1 (so the
    impressions weigh, in total, as many rows as they are beside the candidates); 1 where no
    propensity was logged."""
    values = pd.to_numeric(propensities, errors="coerce").to_numpy(dtype=np.float64)
    weights = np.where(np.isfinite(values) & (values > 0), 1.0 / np.where(values > 0, values, 1.0), 1.0)
    weights = np.minimum(weights, MAX_IMPRESSION_WEIGHT)
    return weights / weights.mean() if len(weights) else weights
