"""Child processes that Relay starts and stops: the Dagster webserver and daemon, the MLflow server
(``relay ui`` in the foreground, ``relay services`` in the background) and the servers that
benchmarks start.

Each child gets its own process group, so stopping it stops the workers and code servers it
forks too, and SIGINT/SIGTERM back at their defaults (a shell that backgrounds us has set SIGINT
to "ignore", and children inherit that).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx

from core.settings import RelaySettings


def free_port() -> int:
    """A loopback port nothing listens on now (for tests and benchmarks that start servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def restore_default_signals() -> None:
    """Run in the child before exec: SIGINT and SIGTERM stop it, whatever its parent inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def spawn(command: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """A child in its own process group, its output appended to ``log`` (or discarded)."""
    output = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
    return subprocess.Popen(
        command,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        preexec_fn=restore_default_signals,
        start_new_session=True,
    )


def wait_for(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Block until ``url`` answers 200; fail early if ``process`` (the server behind it) exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{' '.join(process.args[:2])} exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet: poll again
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f}s")


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (reaping it first if it is our exited child)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (a pid file from another relay process): ask the kernel instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(pid: int, grace_s: float = 30.0) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``grace_s``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# -- background children, found again through pid files under <home>/run ---------------------
def run_dir(settings: RelaySettings) -> Path:
    """Pid files and logs of the processes that outlive the command that started them."""
    return settings.root / "run"


def _pidfile(directory: Path, name: str) -> Path:
    return directory / f"{name}.json"


def record_pid(directory: Path, name: str, process: subprocess.Popen, **details: Any) -> None:
    """Remember a background child (its pid, command and ``details``) for later commands."""
    directory.mkdir(parents=True, exist_ok=True)
    record = {"pid": process.pid, "command": list(process.args), **details}
    _pidfile(directory, name).write_text(json.dumps(record, indent=2))


def recorded_state(directory: Path, name: str) -> dict[str, Any]:
    """The pid file's record with ``running`` (whether that pid still runs); ``{"running": False}``
    when there is none."""
    path = _pidfile(directory, name)
    if not path.exists():
        return {"running": False}
    record = json.loads(path.read_text())
    return {**record, "running": alive(record["pid"])}


def stop_recorded(directory: Path, name: str, grace_s: float = 30.0) -> bool:
    """Stop the recorded child's process group and forget it; returns whether it was running."""
    path = _pidfile(directory, name)
    if not path.exists():
        return False
    pid = json.loads(path.read_text())["pid"]
    running = alive(pid)
    if running:
        stop_group(pid, grace_s)
    path.unlink()
    return running


# -- foreground children: ``relay ui`` ----------------------------------------------------------
class Supervisor:
    """Children that run until Ctrl-C, SIGTERM or the exit of one of them, then stop together.

    While they run, each child's output reaches the terminal and ``<log_dir>/<name>.log``; once
    they are being stopped it reaches only the log, so their shutdown chatter (and the tracebacks
    of Dagster code servers interrupted while loading) stays out of the terminal. Use it as a
    context manager: it owns SIGINT and SIGTERM from ``__enter__`` until every child has stopped,
    and a second signal while stopping kills the stragglers at once.
    """

    def __init__(self, log_dir: Path, grace_s: float = 20.0, echo: IO[bytes] | None = None) -> None:
        self.log_dir = log_dir
        self.grace_s = grace_s
        self.signal: str | None = None  # the first signal that asked us to stop
        self.stopped: list[str] | None = None  # the children that ``stop`` found running
        self._echo = echo if echo is not None else sys.stdout.buffer
        self._children: dict[str, subprocess.Popen] = {}
        self._pumps: list[threading.Thread] = []
        self._quiet = threading.Event()
        self._signals = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Supervisor:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only plain assignments here: the handler runs between any two bytecodes of the main thread.
        self.signal = self.signal or signal.Signals(signum).name
        self._signals += 1

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start ``command`` in its own process group, its output pumped to the terminal and its log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            command,
            env={**env, "PYTHONUNBUFFERED": "1"},  # lines reach the terminal as they are written
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=restore_default_signals,
            start_new_session=True,
        )
        self._children[name] = process
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (the pump closes it)
        pump = threading.Thread(target=self._pump, args=(process.stdout, log), name=f"pump-{name}", daemon=True)
        pump.start()
        self._pumps.append(pump)
        return process

    def _pump(self, source: IO[bytes], log: IO[bytes]) -> None:
        with source, log:
            for line in iter(source.readline, b""):
                log.write(line)
                log.flush()
                if not self._quiet.is_set():
                    try:
                        self._echo.write(line)
                        self._echo.flush()
                    except OSError:  # the terminal went away (a closed pipe): the log keeps everything
                        self._quiet.set()

    def wait(self, poll_s: float = 0.2) -> list[str]:
        """Block until a signal asks to stop (returns ``[]``) or children exit on their own
        (returns their names)."""
        while not self._signals:
            exited = [name for name, process in self._children.items() if process.poll() is not None]
            if exited:
                return exited
            time.sleep(poll_s)
        return []

    def stop(self) -> list[str]:
        """Stop every child's process group quietly: SIGTERM, and SIGKILL for the ones still running
        after ``grace_s`` (or at a second signal). Returns the names of the children that were
        still running. Idempotent."""
        if self.stopped is not None:
            return self.stopped
        self._quiet.set()
        already = self._signals
        running = [name for name, process in self._children.items() if process.poll() is None]
        for process in self._children.values():  # an exited child's workers may still run
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline and self._signals == already:
            if all(process.poll() is not None for process in self._children.values()):
                break
            time.sleep(0.2)
        for process in self._children.values():
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pump in self._pumps:
            pump.join(timeout=5)
        self.stopped = running
        return running
