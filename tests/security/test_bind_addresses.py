"""Every server Relay launches binds to loopback unless told otherwise."""

import inspect

import pytest
import typer
import uvicorn

from core.settings import RelaySettings
from relay.cli import app
from relay.cli.serve import exposure_warning
from relay.services import health_urls, service_commands

LOOPBACK = "127.0.0.1"


def _after(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_the_mlflow_server_and_the_dagster_webserver_bind_to_loopback(tmp_path, profile):
    commands = service_commands(RelaySettings(home=tmp_path, profile=profile), dagster_port=3999)
    assert _after(commands["mlflow"], "--host") == LOOPBACK
    assert _after(commands["dagster-webserver"], "-h") == LOOPBACK
    assert "-h" not in commands["dagster-daemon"] and "--host" not in commands["dagster-daemon"]  # no listener
    assert all(url.startswith(f"http://{LOOPBACK}:") for url in health_urls(RelaySettings(home=tmp_path)).values())


def test_relay_serve_binds_to_loopback_by_default():
    (host,) = [p for p in typer.main.get_command(app).commands["serve"].params if p.name == "host"]
    assert host.default == LOOPBACK
    # `uvicorn serving.app:create_app --factory` (serving/app.py's docstring) relies on uvicorn's own default.
    assert inspect.signature(uvicorn.Config).parameters["host"].default == LOOPBACK


def test_the_production_clients_default_to_loopback_services(tmp_path):
    settings = RelaySettings(home=tmp_path, profile="production")
    assert settings.tracking_uri == f"http://{LOOPBACK}:5000"
    assert "@127.0.0.1:5432" in settings.postgres_server and settings.redis_url == f"{LOOPBACK}:6379"


@pytest.mark.parametrize(
    ("host", "warned"),
    [("127.0.0.1", False), ("::1", False), ("localhost", False), ("0.0.0.0", True), ("10.1.2.3", True)],
)
def test_relay_serve_warns_when_it_binds_beyond_loopback(host, warned):
    warning = exposure_warning(host)
    assert (warning is not None) == warned
    if warned:
        assert warning == (
            f"serving on {host}: the API has no authentication of its own; put an authenticating proxy in front"
        )
