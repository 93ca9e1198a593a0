"""Ctrl-C during ``relay run`` (and ``relay demo``, ``relay repair``): one line and exit code 130.

Inside a Dagster run the interrupt becomes a failed run, logged with a stack trace, and the
runner then raises an ordinary error; the command still reports the interruption, quietly.
"""

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import orchestration.runner
from core.landing import write_partition
from relay.cli import app

runner = CliRunner()
MESSAGE = "interrupted: relay run stopped by Ctrl-C"

# ``relay run`` whose pipeline is a one-op Dagster job that receives SIGINT, as Ctrl-C in the
# terminal would deliver it, and a runner that turns the failed run into an error as the real one does.
INTERRUPTED_RUN = """
import os, signal, time
import dagster as dg
import orchestration.runner

@dg.op
def long_step():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)

@dg.job
def pipeline():
    long_step()

def run_cycle(settings, first_day, last_day, training_config=None):
    result = pipeline.execute_in_process(raise_on_error=False)
    if not result.success:
        raise RuntimeError(f"daily_data run {result.run_id} failed; nothing was trained.")
    raise AssertionError("the run survived the interrupt")

orchestration.runner.run_cycle = run_cycle
from relay.cli import app
app(["run"], prog_name="relay")
"""


@pytest.fixture
def landed(settings, tiny_raw):
    write_partition(settings.landing_dir, "2026-01-05", tiny_raw)
    return settings


def test_ctrl_c_outside_a_run_exits_130_with_one_line(landed, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(orchestration.runner, "run_cycle", interrupted)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 130, result.output
    assert result.output.strip() == MESSAGE


def test_a_failure_without_ctrl_c_is_not_reported_as_one(landed, monkeypatch):
    def failed(*_args, **_kwargs):
        raise RuntimeError("daily_data run r1 failed; nothing was trained.")

    monkeypatch.setattr(orchestration.runner, "run_cycle", failed)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert "interrupted" not in result.output


@pytest.mark.slow
def test_ctrl_c_inside_a_dagster_run_exits_130_without_tracebacks(landed):
    process = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_RUN],
        env={**os.environ, "RELAY_HOME": str(landed.root), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = process.stdout + process.stderr
    assert process.returncode == 130, output[-3000:]
    assert process.stdout.strip().splitlines()[-1] == MESSAGE, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
