"""The SASRec entrypoint runs as ``python -m`` and under ``torchrun`` (DDP, gloo on CPU)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_sasrec import _cyclic_clicks
from training.sasrec.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
ARGS = ["--epochs", "2", "--dim", "16", "--max-len", "8", "--batch-size", "16", "--warmup-steps", "2"]


def _run(command: list[str], tmp_path: Path) -> dict:
    clicks = tmp_path / "clicks.parquet"
    _cyclic_clicks(n_users=40).to_parquet(clicks)
    out = tmp_path / "model.pt"
    completed = subprocess.run(
        [*command, "--clicks", str(clicks), "--out", str(out), *ARGS], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    model, vocabulary, _ = load_checkpoint(out)
    assert len(vocabulary) == 8 and model.config.dim == 16
    return json.loads(out.with_suffix(".json").read_text())


def test_python_module_entrypoint(tmp_path):
    summary = _run([sys.executable, "-m", "training.sasrec.train"], tmp_path)
    assert summary["world_size"] == 1


def test_torchrun_two_processes(tmp_path):
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    summary = _run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "training.sasrec.train"], tmp_path)
    assert summary["world_size"] == 2
