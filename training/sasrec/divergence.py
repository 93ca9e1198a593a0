"""Stop a SASRec run whose loss diverges or turns NaN, before anything registers its weights.

A run with a learning rate a hundred times too high, or a batch of corrupted ids, can still
finish every epoch; the best-epoch bookkeeping then compares NaNs and the registry gets garbage.
The training loop calls these after every batch and every epoch, and a refusal names the epoch,
the step and the losses it saw.
"""

from __future__ import annotations

import math

MAX_EPOCH_LOSS_RATIO = 2.0  # an epoch's mean loss above this multiple of the lowest so far: diverged


class TrainingDiverged(RuntimeError):
    """The loss turned non-finite or grew far above its best; the run's weights are not usable."""


def check_batch_loss(loss: float, epoch: int, step: int, last_finite: float | None) -> None:
    if not math.isfinite(loss):
        before = f"; the last finite batch loss was {last_finite:.4g}" if last_finite is not None else ""
        raise TrainingDiverged(
            f"SASRec loss turned {loss} at epoch {epoch}, step {step}{before}: the run diverged "
            "(learning rate too high, or corrupted inputs); nothing was registered"
        )


def check_epoch_losses(epoch_losses: list[float], ratio: float = MAX_EPOCH_LOSS_RATIO) -> None:
    """The newest epoch's mean loss against the lowest of the earlier ones."""
    if len(epoch_losses) < 2:
        return
    best, latest = min(epoch_losses[:-1]), epoch_losses[-1]
    if latest > ratio * best:
        raise TrainingDiverged(
            f"SASRec loss diverged at epoch {len(epoch_losses)}: mean {latest:.4g}, above {ratio}x the best "
            f"epoch's {best:.4g}; nothing was registered"
        )
