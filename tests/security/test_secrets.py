"""No secret is ever printed or logged: passwords in DSNs and URLs come out as ``***``."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from mlflow import MlflowClient

from core.redact import redact, redact_event
from core.settings import RelaySettings

PASSWORD = "S3cr3t-hunter2"
RELAY = str(Path(sys.executable).with_name("relay"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql+psycopg2://postgres:S3cr3t@db:5432", "postgresql+psycopg2://postgres:***@db:5432"),
        (
            "invalid dsn: missing '=' after \"postgresql://u:p@ss@[::1/x\"",
            "invalid dsn: missing '=' after \"postgresql://u:***@[::1/x\"",
        ),
        ("API request to http://bob:pw@127.0.0.1:5000/api/2.0", "API request to http://bob:***@127.0.0.1:5000/api/2.0"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("127.0.0.1:6379,password=pw,ssl=true", "127.0.0.1:6379,password=***,ssl=true"),
        ("host=db user=relay password='a b' dbname=x", "host=db user=relay password=*** dbname=x"),
        ("http://127.0.0.1:5000/health and a@b.c", "http://127.0.0.1:5000/health and a@b.c"),  # nothing to hide
    ],
)
def test_redact_masks_exactly_the_password(text, expected):
    assert redact(text) == expected


def test_relay_services_up_never_prints_the_postgres_password(tmp_path):
    """A malformed DSN makes psycopg2 echo it, password and all (``invalid dsn: ... "postgresql://..."``)."""
    env = {
        **os.environ,
        "RELAY_HOME": str(tmp_path / "var"),
        "RELAY_PROFILE": "production",
        "RELAY_POSTGRES_SERVER": f"postgresql+psycopg2://postgres:{PASSWORD}@[::1:5432",
        "COLUMNS": "200",
    }
    result = subprocess.run([RELAY, "services", "up"], env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "ProgrammingError: invalid dsn" in output and "postgres:***@[::1" in output
    assert PASSWORD not in output
    assert not any(PASSWORD in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


def test_the_structlog_processor_hides_the_tracking_password_in_a_real_mlflow_error(monkeypatch):
    """What serving logs when the registry is down (``champion_poll_failed``), through ``redact_event``."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    uri = f"http://relay:{PASSWORD}@127.0.0.1:9"  # the discard port: nothing listens
    with pytest.raises(Exception) as raised:
        MlflowClient(uri, uri).get_model_version_by_alias("relay-ranker", "champion")
    assert PASSWORD in str(raised.value)  # the library does echo it
    sink = io.StringIO()
    processors = [redact_event, structlog.processors.JSONRenderer()]
    log = structlog.wrap_logger(structlog.PrintLogger(sink), processors=processors)
    log.error("champion_poll_failed", error=f"{type(raised.value).__name__}: {raised.value}")
    line = json.loads(sink.getvalue())
    assert PASSWORD not in sink.getvalue() and "http://relay:***@127.0.0.1:9" in line["error"]


def test_the_mlflow_server_command_line_carries_no_password():
    from relay.services import mlflow_server_command

    settings = RelaySettings(profile="production", postgres_server=f"postgresql+psycopg2://postgres:{PASSWORD}@db:5432")
    assert PASSWORD not in " ".join(mlflow_server_command(settings))
