"""The SASRec entrypoint runs as ``python -m`` and under ``torchrun`` (DDP, gloo on CPU), keeps
both ranks identical, and a run killed with SIGKILL resumes to exactly the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.training.test_sasrec import _cyclic_clicks
from training.sasrec.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
ARGS = ["--epochs", "2", "--dim", "16", "--max-len", "8", "--batch-size", "16", "--warmup-steps", "2"]
TRAIN = [sys.executable, "-m", "training.sasrec.train"]


def _clicks(tmp_path: Path, users: int = 40) -> Path:
    path = tmp_path / "clicks.parquet"
    _cyclic_clicks(n_users=users).to_parquet(path)
    return path


def _run(command: list[str], tmp_path: Path, extra: list[str] = ARGS, name: str = "model") -> dict:
    out = tmp_path / f"{name}.pt"
    completed = subprocess.run(
        [*command, "--clicks", str(_clicks(tmp_path)), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    model, vocabulary, _ = load_checkpoint(out)
    assert len(vocabulary) == 8 and model.config.dim == int(extra[extra.index("--dim") + 1])
    return json.loads(out.with_suffix(".json").read_text())


def test_python_module_entrypoint(tmp_path):
    summary = _run(TRAIN, tmp_path)
    assert summary["world_size"] == 1 and summary["parameters"] > 0


def test_torchrun_two_ranks_train_and_end_identical(tmp_path):
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    summary = _run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "training.sasrec.train"], tmp_path)
    assert summary["world_size"] == 2
    digests = {path.name: path.read_text().strip() for path in tmp_path.glob("model.rank*.sha256")}
    assert set(digests) == {"model.rank0.sha256", "model.rank1.sha256"}
    assert len(set(digests.values())) == 1  # DDP kept the two replicas bit-identical
    assert summary["parameters_sha256"] == digests["model.rank0.sha256"]


def _epoch_in(state: Path) -> int:
    try:
        return int(torch.load(state, weights_only=False)["progress"]["epoch"])
    except (FileNotFoundError, EOFError, RuntimeError, KeyError):
        return 0


def test_a_run_killed_mid_training_resumes_to_the_same_result(tmp_path):
    clicks = _clicks(tmp_path, users=400)
    flags = [
        "--epochs",
        "8",
        "--patience",
        "100",
        "--dim",
        "32",
        "--max-len",
        "8",
        "--batch-size",
        "8",
        "--warmup-steps",
        "5",
        "--seed",
        "3",
    ]
    reference = tmp_path / "reference.pt"
    subprocess.run([*TRAIN, "--clicks", str(clicks), "--out", str(reference), *flags], check=True, capture_output=True)

    out, state = tmp_path / "resumed.pt", tmp_path / "state.pt"
    command = [*TRAIN, "--clicks", str(clicks), "--out", str(out), "--state", str(state), "--resume", *flags]
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _epoch_in(state) < 3 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.poll() is None, "training finished before it could be killed; make epochs longer"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = _epoch_in(state)
    assert 3 <= killed_at < 8 and not out.exists()

    subprocess.run(command, check=True, capture_output=True)
    resumed = json.loads(out.with_suffix(".json").read_text())
    expected = json.loads(reference.with_suffix(".json").read_text())
    assert resumed["resumed_from_epoch"] == killed_at + 1
    assert resumed["history"] == expected["history"]  # every epoch's loss and validation, exactly
    assert resumed["parameters_sha256"] == expected["parameters_sha256"]
