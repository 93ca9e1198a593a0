"""The supervisor behind ``relay ui`` (``core.processes.Supervisor``), with tiny Python children:
their output reaches the terminal while they run and only their logs once they are stopped, a
child's own exit ends the wait, and a second signal while stopping kills the stragglers."""

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

from core.processes import Supervisor

# Prints, then on SIGTERM prints a fake traceback (like an interrupted Dagster code server) and exits.
NOISY_ON_STOP = """
import signal, sys, time
def stop(*_):
    print("Traceback (most recent call last): interrupted while loading", flush=True)
    sys.exit(1)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""
IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _wait_for_output(echo: io.BytesIO, text: bytes, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in echo.getvalue():
        assert time.monotonic() < deadline, echo.getvalue()
        time.sleep(0.05)


def test_output_reaches_the_terminal_until_stop_and_the_log_always(tmp_path: Path):
    echo = io.BytesIO()
    with Supervisor(tmp_path, grace_s=10, echo=echo) as supervisor:
        supervisor.start("noisy", _python(NOISY_ON_STOP), dict(os.environ))
        _wait_for_output(echo, b"ready")
    assert supervisor.stopped == ["noisy"]
    assert b"Traceback" not in echo.getvalue()
    log = (tmp_path / "noisy.log").read_text()
    assert "ready" in log and "Traceback (most recent call last): interrupted while loading" in log


def test_wait_returns_the_children_that_exited_on_their_own(tmp_path: Path):
    with Supervisor(tmp_path, echo=io.BytesIO()) as supervisor:
        supervisor.start("quitter", _python("import sys; sys.exit(3)"), dict(os.environ))
        supervisor.start("sleeper", _python("import time; time.sleep(60)"), dict(os.environ))
        assert supervisor.wait() == ["quitter"]
    assert supervisor.signal is None
    assert supervisor.stopped == ["sleeper"]


def test_a_signal_ends_the_wait_and_a_second_one_kills_at_once(tmp_path: Path):
    echo = io.BytesIO()
    started = time.monotonic()
    before = signal.getsignal(signal.SIGINT)  # the default, or SIG_IGN under a shell's background job
    with Supervisor(tmp_path, grace_s=120, echo=echo) as supervisor:
        child = supervisor.start("stubborn", _python(IGNORES_SIGTERM), dict(os.environ))
        _wait_for_output(echo, b"ready")
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: handled by the supervisor, not a KeyboardInterrupt
        assert supervisor.wait() == []
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()  # Ctrl-C again while stopping
    assert supervisor.signal == "SIGINT"
    assert supervisor.stopped == ["stubborn"]
    assert child.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 60
    assert signal.getsignal(signal.SIGINT) is before  # restored on exit
