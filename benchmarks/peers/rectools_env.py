"""The RecTools peer's own virtualenv, installed once under Relay's data directory.

RecTools pins its own numpy/lightning ranges, so it lives apart from Relay's venv. torch goes in first and
alone: the pinned CPU wheel lies on disk (pip's find-links), while letting the resolver choose torch for
RecTools would pull gigabytes of CUDA wheels. pyarrow comes along only so the peer script can read parquet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

RECTOOLS_VERSION = "0.19.0"
TORCH_VERSION = "2.13.0"
PYARROW_VERSION = "25.0.1"  # Relay's own pin; only for parquet I/O
MARKER = ".installed"
STEPS: tuple[tuple[str, ...], ...] = (
    (f"torch=={TORCH_VERSION}",),
    (f"rectools[torch]=={RECTOOLS_VERSION}", f"pyarrow=={PYARROW_VERSION}"),
)
# First line of the marker: a venv installed from other steps is rebuilt rather than trusted.
SPEC = "# " + " | ".join(" ".join(step) for step in STEPS)
# pip lines worth showing while an install takes minutes; everything else only appears on failure.
PROGRESS_PREFIXES = ("Collecting", "Downloading", "Installing collected", "Successfully installed")


def base_python() -> str:
    """The interpreter behind ``sys.executable``: a venv made from another venv's python breaks when that one goes."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    if base and Path(base).exists():
        return base
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = shutil.which(version)
    if found is None:
        raise RuntimeError(f"no {version} found to build the RecTools peer venv with")
    return found


def venv_dir(root: Path) -> Path:
    return root / "peers" / f"rectools-{RECTOOLS_VERSION}"


def _run(command: list[str], progress: Callable[[str], None], show: bool = True) -> str:
    """Run one step, passing pip's headline lines to ``progress``; on failure raise with the command and output tail."""
    shown = " ".join(command)
    progress(f"[rectools peer] $ {shown}")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"}
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            tail.append(line)
            if show and line.lstrip().startswith(PROGRESS_PREFIXES):
                progress(f"[rectools peer]   {line.strip()}")
        code = process.wait()
    if code != 0:
        raise RuntimeError(f"`{shown}` failed with exit code {code}:\n" + "\n".join(tail))
    return "\n".join(lines) + "\n"


def ensure_rectools_venv(root: Path, progress: Callable[[str], None] = print) -> Path:
    """Return the peer venv's python, creating and installing it first unless its marker says it is done.

    The marker is written only after every step succeeded, so an interrupted or failed install is redone whole.
    """
    venv = venv_dir(root)
    python = venv / "bin" / "python"
    marker = venv / MARKER
    if marker.exists() and python.exists() and marker.read_text().split("\n", 1)[0] == SPEC:
        return python
    progress(f"[rectools peer] installing RecTools {RECTOOLS_VERSION} into {venv} (once; takes minutes)")
    if venv.exists():
        shutil.rmtree(venv)  # a half-built venv from an interrupted run, or one from other pins
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([base_python(), "-m", "venv", str(venv)], progress)
    for step in STEPS:
        _run([str(python), "-m", "pip", "install", "--progress-bar", "off", *step], progress)
    freeze = _run([str(python), "-m", "pip", "freeze"], progress, show=False)
    marker.write_text(f"{SPEC}\n{freeze}")
    progress(f"[rectools peer] ready: {python}")
    return python
