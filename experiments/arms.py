"""Who sees which arm: a stable hash of the user id, salted by the test's seed.

A hash, not a random draw, so a user's arm is the same on every request, in every process and
on every replay of the test, and the split needs no shared state.
"""

from __future__ import annotations

import hashlib

import numpy as np

CONTROL, TREATMENT = "control", "treatment"


def bucket(user_id: int, seed: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, user id)."""
    digest = hashlib.blake2b(f"{seed}:{int(user_id)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_treatment(user_ids: np.ndarray, seed: int, share: float) -> np.ndarray:
    """True for the users the test shows the treatment (a ``share`` of them)."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"the treatment share must be in (0, 1), got {share}")
    return np.fromiter((bucket(int(u), seed) < share for u in user_ids), dtype=bool, count=len(user_ids))
