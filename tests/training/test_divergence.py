"""The divergence guard: exact refusals on hand-made losses, and a real run with an absurd learning rate."""

import pytest

from tests.training.test_sasrec import _cyclic_clicks
from training.sasrec.divergence import TrainingDiverged, check_batch_loss, check_epoch_losses
from training.sasrec.train import SASRecTrainConfig, train_sasrec


def test_a_non_finite_batch_loss_names_the_epoch_the_step_and_the_last_finite_loss():
    check_batch_loss(3.2, epoch=1, step=0, last_finite=None)
    with pytest.raises(TrainingDiverged, match=r"turned nan at epoch 2, step 7; the last finite batch loss was 3.5"):
        check_batch_loss(float("nan"), epoch=2, step=7, last_finite=3.5)
    with pytest.raises(TrainingDiverged, match="turned inf"):
        check_batch_loss(float("inf"), epoch=1, step=0, last_finite=None)


def test_an_epoch_loss_above_twice_the_best_is_divergence():
    check_epoch_losses([5.0])
    check_epoch_losses([5.0, 4.0, 7.9])  # below 2 x 4.0
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 3: mean 8.1, above 2.0x the best epoch's 4"):
        check_epoch_losses([5.0, 4.0, 8.1])


def test_a_run_with_an_absurd_learning_rate_is_stopped(one_thread):
    config = SASRecTrainConfig(max_len=8, dim=32, n_blocks=1, n_heads=2, dropout=0.0, epochs=5, lr=1e8, warmup_steps=1)
    with pytest.raises(TrainingDiverged, match=r"SASRec loss turned nan at epoch \d+, step \d+"):
        train_sasrec(_cyclic_clicks(), config, progress=False)
