"""What users carry from one day to the next: their engagement with the product.

A user's session rate is scaled by their engagement, and engagement moves with how satisfying
their sessions were. This is what lets a policy that wins clicks but disappoints people lose
them over time, which a click proxy alone never shows. The update is a pure function, so the
stochastic environment and the noise-free rollout share one definition of the dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

STATE_FILE = "state.npz"


@dataclass(frozen=True)
class UserState:
    """Per-user engagement (index = user id - 1); 1 is the world's own resting level."""

    engagement: np.ndarray  # (U,) float64, multiplies the user's session rate

    def __post_init__(self) -> None:
        engagement = np.array(self.engagement, dtype=np.float64)  # a private, read-only copy
        if engagement.ndim != 1 or not np.isfinite(engagement).all() or (engagement <= 0).any():
            raise ValueError("UserState.engagement must be a 1-d array of positive finite values")
        engagement.flags.writeable = False
        object.__setattr__(self, "engagement", engagement)

    @classmethod
    def initial(cls, n_users: int) -> UserState:
        """Everyone at the resting level: the state before any history."""
        return cls(np.ones(n_users))

    @property
    def n_users(self) -> int:
        return int(self.engagement.size)

    def save(self, directory: Path, history: np.ndarray | None = None) -> Path:
        """Write the state (and optionally the state at the start of every past day) to ``state.npz``."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / STATE_FILE
        if history is None:
            np.savez_compressed(path, engagement=self.engagement)
        else:
            np.savez_compressed(path, engagement=self.engagement, history=np.asarray(history, dtype=np.float64))
        return path

    @classmethod
    def load(cls, directory: Path, day_index: int | None = None) -> UserState:
        """The state at the start of ``day_index`` (default: the day after the landed history)."""
        path = directory / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"No user state at {path}; run `relay simulate` again to save one.")
        arrays = np.load(path)
        history = arrays["history"] if "history" in arrays.files else np.empty((0, arrays["engagement"].size))
        if day_index is None or day_index == len(history):  # the final state starts the day after
            return cls(arrays["engagement"])
        if not 0 <= day_index < len(history):
            raise KeyError(f"{path} holds no state for day {day_index}")
        return cls(history[day_index])


def session_value(clicks: np.ndarray, satisfaction: np.ndarray, miss_penalty: float) -> np.ndarray:
    """Value of each session to its user: satisfaction clicked, minus a penalty for no click at all.

    ``clicks`` is (S, k) 0/1 clicks or click probabilities; with probabilities the result is the
    exact expectation, since clicks are independent given the slate (P(no click) = prod(1 - p)).
    Empty slate positions carry click 0. Returns (S,).
    """
    clicks = np.asarray(clicks, dtype=np.float64)
    gained = (clicks * np.asarray(satisfaction, dtype=np.float64)).sum(axis=1)
    return gained - miss_penalty * np.prod(1.0 - clicks, axis=1)


def advance(
    state: UserState,
    active: np.ndarray,
    signal: np.ndarray,
    *,
    memory: float,
    sensitivity: float,
    low: float,
    high: float,
) -> UserState:
    """Next day's state: engagement decays towards 1 and moves with the day's signal.

    ``active`` (U,) is 1 for users who had a session (or the probability of one, for an expected
    rollout), ``signal`` (U,) their mean session value that day relative to what they are used
    to (``world.logging_reference``); users without sessions only revert towards 1.
    Bounded to [low, high] so no user vanishes or explodes.
    """
    engagement = 1.0 + memory * (state.engagement - 1.0) + sensitivity * np.asarray(active) * np.asarray(signal)
    return UserState(np.clip(engagement, low, high))
