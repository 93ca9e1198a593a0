"""``relay ui`` serves the Dagster and MLflow UIs on loopback and stops cleanly on SIGTERM and on
Ctrl-C (SIGINT): one line says what stopped, and the children's shutdown output (the tracebacks
of code servers interrupted while loading included) stays in their logs."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.processes import free_port, wait_for
from core.settings import RelaySettings

pytestmark = pytest.mark.slow


class Ui:
    """``relay ui`` in a subprocess, its output read line by line as it comes."""

    def __init__(self, settings: RelaySettings) -> None:
        self.dagster_port, self.mlflow_port = free_port(), free_port()
        relay = str(Path(sys.executable).with_name("relay"))
        self.process = subprocess.Popen(
            [relay, "ui", "--dagster-port", str(self.dagster_port), "--mlflow-port", str(self.mlflow_port)],
            env={**os.environ, "RELAY_HOME": str(settings.root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def wait_for_line(self, text: str, timeout_s: float = 240) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline and self.process.poll() is None, "".join(self.lines)[-2000:]
            time.sleep(0.1)

    def stop(self, signum: signal.Signals, timeout_s: float = 60) -> str:
        """Send ``signum``; returns what was printed after it."""
        before = len(self.lines)
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self.reader.join(timeout=10)
        return "".join(self.lines[before:])

    def ports_closed(self) -> bool:
        for port in (self.dagster_port, self.mlflow_port):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return False
        return True


def _assert_stopped_quietly(ui: Ui, settings: RelaySettings, signum: signal.Signals, after: str) -> None:
    output = "".join(ui.lines)
    assert ui.process.returncode == 0, output[-2000:]
    stopped = f"stopped mlflow, dagster-webserver, dagster-daemon on {signum.name}"
    assert ui.lines[-1].rstrip() == f"{stopped}; logs in {settings.root / 'run' / 'ui'}"
    assert "Traceback" not in after, after
    assert len(after.splitlines()) <= 5, after  # the stop line, and at most a few lines that raced the signal
    assert ui.ports_closed()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_starts_both_servers_and_stops_quietly_on_a_signal(settings, signum):
    ui = Ui(settings)
    try:
        wait_for(f"http://127.0.0.1:{ui.dagster_port}/server_info", 240, ui.process)
        wait_for(f"http://127.0.0.1:{ui.mlflow_port}/health", 120, ui.process)
    finally:
        after = ui.stop(signum)
    output = "".join(ui.lines)
    assert f"Dagster UI: http://127.0.0.1:{ui.dagster_port}" in output
    assert f"MLflow UI:  http://127.0.0.1:{ui.mlflow_port}" in output
    _assert_stopped_quietly(ui, settings, signum, after)
    assert "Serving dagster-webserver" in (settings.root / "run" / "ui" / "dagster-webserver.log").read_text()


def test_ctrl_c_while_the_code_servers_load_stays_quiet(settings):
    """Interrupted mid-import, Dagster's code servers print long tracebacks: they go to the logs."""
    ui = Ui(settings)
    try:
        ui.wait_for_line("Starting Dagster code server")
    finally:
        after = ui.stop(signal.SIGINT)
    _assert_stopped_quietly(ui, settings, signal.SIGINT, after)
