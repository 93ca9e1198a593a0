"""Refuse user embeddings that collapsed: every user near the same vector.

A collapsed encoder (a bad warm start, a dead layer after a code change) still produces
well-typed, finite vectors that pass the table's contract; served, they make every user look
alike and the ranker's embedding features useless. The spread of the vectors around their
centroid, relative to their norm, is about 0.77 for the demo world's SASRec; a collapse drives
it towards 0.
"""

from __future__ import annotations

import numpy as np

MIN_RELATIVE_SPREAD = 0.05


class EmbeddingsCollapsed(RuntimeError):
    """The user embeddings are too close to one vector to be served."""


def relative_spread(vectors: np.ndarray) -> float:
    """Mean distance to the centroid over mean norm: 0 when every vector is the same."""
    norms = np.linalg.norm(vectors, axis=1)
    if not norms.mean():
        return 0.0
    return float(np.linalg.norm(vectors - vectors.mean(axis=0), axis=1).mean() / norms.mean())


def check_not_collapsed(vectors: np.ndarray, version: int, minimum: float = MIN_RELATIVE_SPREAD) -> float:
    """The spread, or EmbeddingsCollapsed naming the version, before anything is written or served."""
    if len(vectors) < 2:
        return float("nan")
    spread = relative_spread(vectors)
    if spread < minimum:
        raise EmbeddingsCollapsed(
            f"SASRec v{version}: user embeddings collapsed: relative spread {spread:.4f} < {minimum} over "
            f"{len(vectors)} vectors (every user near the same vector); not written, not served"
        )
    return spread
