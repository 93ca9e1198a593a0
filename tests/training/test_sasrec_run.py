"""A SASRec run without any orchestrator: trained here, then warm-started in a child process
through a plain launcher, each logged and registered; refusals come before any work."""

import subprocess
import sys

import pytest

from tests.training.test_sasrec import _cyclic_clicks
from training import registry
from training.sasrec import run as sasrec_run
from training.sasrec.run import SASRecLaunch, SASRecRefused, SASRecRun, train_and_register_sasrec
from training.sasrec.train import SASRecTrainConfig
from training.split import TemporalSplit

SPLIT = TemporalSplit("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-03")
TINY = SASRecTrainConfig(max_len=8, dim=16, n_blocks=1, epochs=2, batch_size=16, warmup_steps=2, weight_decay=0.01)


def _plain_launcher(calls: list[tuple[list[str], int]]):
    """What an orchestrator supplies; here a plain child process of the training entrypoint."""

    def launch(flags: list[str], nproc: int) -> None:
        calls.append((flags, nproc))
        subprocess.run([sys.executable, "-m", "training.sasrec.train", *flags], check=True, capture_output=True)

    return launch


@pytest.mark.slow
def test_train_here_then_warm_start_in_a_child_process(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(sasrec_run, "read_events", lambda *args, **kwargs: _cyclic_clicks(n_users=30))
    first = train_and_register_sasrec(settings, TINY, SASRecLaunch(), SPLIT, tmp_path / "first")
    assert isinstance(first, SASRecRun) and first.version == 1 and first.warm_started_from is None
    assert first.train_clicks == 30 * 12 and first.sequences > 0 and first.parameters > 0
    assert set(first.best_metrics) == {"val_ndcg_at_10", "val_hr_at_10"}

    calls: list[tuple[list[str], int]] = []
    how = SASRecLaunch(launch="subprocess", init="latest")
    second = train_and_register_sasrec(
        settings, TINY, how, SPLIT, tmp_path / "second", _plain_launcher(calls), {"orchestrator.run_id": "r2"}
    )
    assert (second.version, second.warm_started_from, second.launch) == (2, 1, "subprocess")
    ((flags, nproc),) = calls
    assert nproc == 1 and "--init" in flags and flags[flags.index("--weight-decay") + 1] == "0.01"

    registry.configure(settings)
    with registry.tracked_run(run_id=second.run_id) as reopened:  # as the gate reopens a ranker's run
        assert reopened == second.run_id
    from mlflow import MlflowClient  # the test reads what was logged; the product goes through registry

    logged = MlflowClient().get_run(second.run_id).data
    assert logged.tags["launch"] == "subprocess" and logged.tags["warm_started_from"] == "1"
    assert logged.tags["orchestrator.run_id"] == "r2" and logged.tags["relay.stage"] == "embeddings"
    assert logged.params["weight_decay"] == "0.01" and logged.params["ranker_start"] == "2026-01-02"
    assert "best_val_ndcg_at_10" in logged.metrics and "train_loss" in logged.metrics


@pytest.mark.parametrize(
    ("how", "message"),
    [
        (SASRecLaunch(launch="kubernetes"), "unknown launch 'kubernetes'"),
        (SASRecLaunch(init="yesterday"), "unknown init 'yesterday'"),
        (SASRecLaunch(launch="subprocess"), "needs a launcher"),
    ],
)
def test_refuses_an_unknown_launch_before_any_work(settings, tmp_path, how, message):
    with pytest.raises(SASRecRefused, match=message):
        train_and_register_sasrec(settings, TINY, how, SPLIT, tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_warm_start_without_a_registered_model_is_refused(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(sasrec_run, "read_events", lambda *args, **kwargs: _cyclic_clicks(n_users=5))
    with pytest.raises(SASRecRefused, match="no SASRec is registered yet"):
        train_and_register_sasrec(settings, TINY, SASRecLaunch(init="latest"), SPLIT, tmp_path / "work")
