"""From click events to padded training sequences, and the item vocabulary that maps ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Vocabulary:
    """Item id <-> model index. Index 0 is padding, so index = position in ``item_ids`` + 1."""

    item_ids: np.ndarray  # sorted int64 ids

    @classmethod
    def from_items(cls, item_ids: np.ndarray | pd.Series) -> Vocabulary:
        return cls(np.unique(np.asarray(item_ids, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.item_ids)

    def encode(self, item_ids: np.ndarray) -> np.ndarray:
        """Model indices; unknown ids map to 0 (padding) and are dropped by ``user_sequences``."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if len(self.item_ids) == 0:
            return np.zeros(len(item_ids), dtype=np.int64)
        pos = np.clip(np.searchsorted(self.item_ids, item_ids), 0, len(self.item_ids) - 1)
        return np.where(self.item_ids[pos] == item_ids, pos + 1, 0).astype(np.int64)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        return self.item_ids[np.asarray(indices, dtype=np.int64) - 1]


def user_sequences(clicks: pd.DataFrame, vocabulary: Vocabulary) -> dict[int, np.ndarray]:
    """Each user's clicked item indices in time order (ties broken by input order)."""
    frame = clicks[["user_id", "item_id", "ts"]].copy()
    frame["index"] = vocabulary.encode(frame["item_id"].to_numpy())
    frame = frame[frame["index"] > 0]
    frame = frame.sort_values(["user_id", "ts"], kind="stable")
    users = frame["user_id"].to_numpy()
    indices = frame["index"].to_numpy()
    boundaries = np.flatnonzero(np.diff(users)) + 1
    return {
        int(chunk_users[0]): chunk
        for chunk_users, chunk in zip(np.split(users, boundaries), np.split(indices, boundaries), strict=True)
        if len(chunk)
    }


def left_pad(sequence: np.ndarray, length: int) -> np.ndarray:
    """The last ``length`` items, left-padded with 0."""
    tail = sequence[-length:]
    out = np.zeros(length, dtype=np.int64)
    if len(tail):
        out[length - len(tail) :] = tail
    return out


def training_windows(sequences: dict[int, np.ndarray], max_len: int, per_user: int = 0) -> np.ndarray:
    """Cut every sequence into windows of ``max_len + 1`` items, newest first, stride ``max_len``.

    Each window gives inputs ``w[:-1]`` and next-item targets ``w[1:]``. Sequences shorter than
    two items carry no next-item signal and are skipped. ``per_user`` > 0 keeps only each user's
    newest windows (a daily fine-tune learns from what is new, with its context).
    """
    windows = []
    for sequence in sequences.values():
        end, taken = len(sequence), 0
        while end >= 2 and (per_user == 0 or taken < per_user):
            windows.append(left_pad(sequence[max(0, end - max_len - 1) : end], max_len + 1))
            end -= max_len
            taken += 1
    if not windows:
        return np.zeros((0, max_len + 1), dtype=np.int64)
    return np.stack(windows)


def split_last_item(sequences: dict[int, np.ndarray]) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Leave-one-out: each user's last item becomes the target, the rest the history."""
    histories, targets = {}, {}
    for user, sequence in sequences.items():
        if len(sequence) >= 2:
            histories[user] = sequence[:-1]
            targets[user] = int(sequence[-1])
        else:
            histories[user] = sequence
    return histories, targets
