"""Run RecTools 0.19's SASRec on Relay's data from Relay's venv, through the peer venv and a subprocess.

RecTools cannot share Relay's venv (its own numpy/lightning pins), so the data goes over as parquet and
the result comes back as JSON; ``rectools_sasrec.py`` does the work on the other side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.peers.rectools_env import ensure_rectools_venv

SCRIPT = Path(__file__).resolve().parent / "rectools_sasrec.py"


@dataclass(frozen=True)
class PeerRun:
    fit_s: float
    epochs: int
    s_per_epoch: float
    peak_rss_mb: float  # of the peer's own process: data, model and RecTools' imports, as Relay's figure counts its own
    versions: dict[str, str]
    ranked: np.ndarray  # (len(users), k) item ids in rank order, -1 where fewer than k came back


def _flag(name: str, value: Any) -> list[str]:
    return [f"--{name.replace('_', '-')}", str(value)]


def _ranked(recos: dict[str, list[Any]], users: np.ndarray, k: int) -> np.ndarray:
    """JSON object keys are strings; match them to ``users`` by their string form."""
    ranked = np.full((len(users), k), -1, dtype=np.int64)
    for row, user in enumerate(users):
        items = recos.get(str(user.item() if isinstance(user, np.generic) else user), [])[:k]
        ranked[row, : len(items)] = items
    return ranked


def run_rectools_peer(
    train: pd.DataFrame,
    users: np.ndarray,
    work_dir: Path,
    root: Path,
    k: int = 10,
    progress: Any = print,
    **settings: Any,
) -> PeerRun:
    """Fit RecTools SASRec on ``train`` (user_id, item_id, ts, in tie-breaking order) and rank top-k for ``users``.

    ``settings`` become the script's flags (epochs, batch_size, dim, blocks, max_len, seed, heads, dropout, lr).
    The peer's stderr streams through so a minutes-long fit shows its epochs; a failure raises with its tail.
    """
    python = ensure_rectools_venv(root, progress=progress)
    work_dir.mkdir(parents=True, exist_ok=True)
    train_path, users_path, out_path = work_dir / "train.parquet", work_dir / "users.parquet", work_dir / "result.json"
    train[["user_id", "item_id", "ts"]].reset_index(drop=True).to_parquet(train_path, index=False)
    pd.DataFrame({"user_id": np.asarray(users)}).to_parquet(users_path, index=False)
    out_path.unlink(missing_ok=True)
    command = [str(python), str(SCRIPT), "--train", str(train_path), "--users", str(users_path), "--out", str(out_path)]
    command += _flag("k", k)
    for name, value in settings.items():
        command += _flag(name, value)

    # The peer must not see Relay's venv or sources: a clean PYTHONPATH and no inherited VIRTUAL_ENV.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONUNBUFFERED"] = "1"
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=work_dir
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        stdout = process.stdout

        def drain() -> None:  # stdout is not expected, but must not fill its pipe and stall the peer
            for line in stdout:
                tail.append(line.rstrip("\n"))

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        for line in process.stderr:
            tail.append(line.rstrip("\n"))
            sys.stderr.write(line)
            sys.stderr.flush()
        code = process.wait()
        reader.join()
    if code != 0 or not out_path.exists():
        raise RuntimeError(f"RecTools peer `{' '.join(command)}` failed with exit code {code}:\n" + "\n".join(tail))

    result = json.loads(out_path.read_text())
    return PeerRun(
        fit_s=float(result["fit_s"]),
        epochs=int(result["epochs"]),
        s_per_epoch=float(result["s_per_epoch"]),
        peak_rss_mb=float(result["peak_rss_mb"]),
        versions={"torch": result["torch_version"], "rectools": result["rectools_version"]},
        ranked=_ranked(result["recos"], np.asarray(users), k),
    )
