"""Training compute, counted three ways so no strategy can hide its cost.

Sequences processed are what a data engineer sees; CPU-seconds are what the machine paid
(``time.process_time`` of this process, every thread, the same code path for every strategy);
FLOPs are an estimate that does not depend on the machine and does not hide a wider model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

from training.sasrec.model import SASRecConfig


@dataclass(frozen=True)
class Compute:
    sequences: int = 0  # training windows processed (teacher passes are not sequences trained)
    positions: int = 0  # next-item targets trained on
    cpu_s: float = 0.0
    flops: float = 0.0

    def __add__(self, other: Compute) -> Compute:
        return Compute(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def fraction_of(self, other: Compute) -> dict[str, float]:
        """Each measure as a share of ``other``'s (the incumbent's cumulative compute)."""
        return {
            f.name: (getattr(self, f.name) / getattr(other, f.name)) if getattr(other, f.name) else float("nan")
            for f in fields(self)
        }

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def forward_flops_per_position(config: SASRecConfig) -> float:
    """Multiply-adds x 2 of one position's forward pass, the full-softmax output included.

    Per block: q, k, v and the output projection (4 d^2), the feed-forward (2 ffn d^2), and
    attention over at most ``max_len`` keys (2 L d, scores and the weighted sum). Then the
    logits over every item (n d), and the side-feature projection of the item table is
    amortised away (once per step, not per position).
    """
    d, length = config.dim, config.max_len
    per_block = 4 * d * d + 2 * config.ffn_mult * d * d + 2 * length * d
    return 2.0 * (config.n_blocks * per_block + config.n_items * d)


def training_flops(config: SASRecConfig, positions: int, slots: int | None = None) -> float:
    """Forward plus backward (about 2x the forward) of ``positions`` trained targets; the
    transformer also runs over padded slots (``slots``, default = positions)."""
    slots = positions if slots is None else slots
    per = forward_flops_per_position(config)
    logits = 2.0 * config.n_items * config.dim
    return 3.0 * ((per - logits) * slots + logits * positions)


def inference_flops(config: SASRecConfig, positions: int) -> float:
    """Forward only: a teacher scoring replayed positions, or an embedding backfill."""
    return forward_flops_per_position(config) * positions


@contextmanager
def cpu_seconds() -> Iterator[list[float]]:
    """Measure CPU-seconds of the block: ``with cpu_seconds() as spent: ...; spent[0]``."""
    spent = [0.0]
    began = time.process_time()
    try:
        yield spent
    finally:
        spent[0] = time.process_time() - began
