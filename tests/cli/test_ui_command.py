"""``relay ui`` serves the Dagster and MLflow UIs on loopback and stops cleanly on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from relay.services import free_port, wait_for

pytestmark = pytest.mark.slow


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_ui_starts_both_servers_and_stops_on_sigterm(settings):
    dagster_port, mlflow_port = free_port(), free_port()
    relay = str(Path(sys.executable).with_name("relay"))
    process = subprocess.Popen(
        [relay, "ui", "--dagster-port", str(dagster_port), "--mlflow-port", str(mlflow_port)],
        env={**os.environ, "RELAY_HOME": str(settings.root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{dagster_port}/server_info", 240, process)
        wait_for(f"http://127.0.0.1:{mlflow_port}/health", 120, process)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-2000:]
    assert f"Dagster UI: http://127.0.0.1:{dagster_port}" in output
    assert f"MLflow UI:  http://127.0.0.1:{mlflow_port}" in output
    assert "stopped" in output
    assert _port_closed(dagster_port) and _port_closed(mlflow_port)
