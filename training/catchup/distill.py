"""Knowledge distillation from the incumbent: its scores over items as soft targets.

Replayed history is learned from the teacher's whole distribution (what it believes comes
next, over every item) rather than from the one item that happened, which carries more signal
per sequence; recent windows are learned from the true next items, so the student follows
today's data and not just its teacher. The teacher's forward passes are compute too, and are
counted (``teacher_positions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from training.sasrec.data import Vocabulary, left_pad
from training.sasrec.model import SASRec


def windows_by_recency(
    clicks: pd.DataFrame, vocabulary: Vocabulary, max_len: int, cutoff: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Training windows of every user (each user's last click held out for validation, as
    ``train_sasrec`` does) and whether each window's newest target falls at or after ``cutoff``.

    Windows are cut exactly like ``training_windows``: newest first, ``max_len + 1`` items,
    stride ``max_len``.
    """
    frame = clicks[["user_id", "item_id", "ts"]].copy()
    frame["index"] = vocabulary.encode(frame["item_id"].to_numpy())
    frame = frame[frame["index"] > 0].sort_values(["user_id", "ts"], kind="stable")
    users = frame["user_id"].to_numpy()
    indices = frame["index"].to_numpy()
    stamps = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(None).to_numpy()  # naive UTC datetime64
    boundaries = np.flatnonzero(np.diff(users)) + 1
    cut = np.datetime64(pd.Timestamp(cutoff).tz_convert("UTC").tz_localize(None))
    windows, recent = [], []
    for sequence, times in zip(np.split(indices, boundaries), np.split(stamps, boundaries), strict=True):
        sequence, times = sequence[:-1], times[:-1]  # the last click is validation's target
        end = len(sequence)
        while end >= 2:
            windows.append(left_pad(sequence[max(0, end - max_len - 1) : end], max_len + 1))
            recent.append(times[end - 1] >= cut)
            end -= max_len
    if not windows:
        return np.zeros((0, max_len + 1), dtype=np.int64), np.zeros(0, dtype=bool)
    return np.stack(windows), np.asarray(recent, dtype=bool)


@dataclass
class Distillation:
    """A ``TrainingLoss``: per position, w x cross-entropy + (1 - w) x T^2 x KL(teacher || student).

    ``hard_weight`` holds w per training window (1: recent, true next items only; below 1:
    replayed, mostly the teacher). Items the teacher never saw get no soft mass.
    """

    teacher: SASRec
    teacher_vocabulary: Vocabulary
    student_vocabulary: Vocabulary
    hard_weight: np.ndarray  # (n_windows,)
    temperature: float = 2.0
    teacher_positions: int = field(default=0, init=False)  # positions the teacher scored (compute)
    teacher_slots: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.teacher.eval()
        self._weights = torch.as_tensor(self.hard_weight, dtype=torch.float32)
        # student index -> teacher index (0 where the teacher does not know the item)
        student_to_teacher = np.zeros(len(self.student_vocabulary) + 1, dtype=np.int64)
        student_to_teacher[1:] = self.teacher_vocabulary.encode(self.student_vocabulary.item_ids)
        self._to_teacher = torch.as_tensor(student_to_teacher)
        self._known = self._to_teacher[1:] > 0

    @torch.no_grad()
    def teacher_log_probs(self, inputs: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Teacher log-probabilities over the student's items at the ``real`` positions."""
        hidden = self.teacher.encode(self._to_teacher[inputs])[real]
        self.teacher_positions += int(real.sum())
        self.teacher_slots += inputs.numel()
        logits = hidden @ self.teacher.item_vectors()[self._to_teacher[1:]].T / self.temperature
        return torch.log_softmax(logits.masked_fill(~self._known, float("-inf")), dim=1)

    def __call__(
        self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, windows: torch.Tensor
    ) -> torch.Tensor:
        hidden, real = model.encode(inputs), targets > 0
        logits = hidden[real] @ model.item_vectors()[1:].T
        hard = F.cross_entropy(logits, targets[real] - 1, reduction="none")
        weight = self._weights[windows][:, None].expand_as(targets)[real]
        soft_rows = weight < 1.0
        loss = weight * hard
        if soft_rows.any():
            rows_with_soft = soft_rows.new_zeros(targets.shape)
            rows_with_soft[real] = soft_rows
            teacher = self.teacher_log_probs(
                inputs[rows_with_soft.any(dim=1)], rows_with_soft[rows_with_soft.any(dim=1)]
            )
            student = torch.log_softmax(logits[soft_rows] / self.temperature, dim=1)
            kl = (teacher.exp() * (teacher - student)).nan_to_num(0.0).sum(dim=1)
            loss = loss.clone()
            loss[soft_rows] = loss[soft_rows] + (1.0 - weight[soft_rows]) * self.temperature**2 * kl
        return loss.mean()
