"""The profile's services (the MLflow tracking server, the Dagster webserver and daemon): their
commands and environment, run in the foreground by ``relay ui`` and in the background by
``relay services up|down|status``. Starting, watching and stopping the processes is
``core.processes``; creating the production databases is ``core.databases``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from core import processes
from core.databases import ensure_databases
from core.settings import RelaySettings

SERVICES = ("mlflow", "dagster-webserver", "dagster-daemon")


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def mlflow_server_command(settings: RelaySettings, port: int | None = None) -> list[str]:
    """Production: a Postgres backend, artifacts proxied by the server into ``<home>/mlflow/artifacts``;
    its DSN (with the password) travels in ``MLFLOW_BACKEND_STORE_URI`` (``service_env``), never on the
    command line, which every user of the machine can read in ``ps``.
    Embedded: the same SQLite file and artifact folder the pipeline writes (a UI over them)."""
    if settings.profile == "production":
        storage = ["--artifacts-destination", str(settings.artifact_root)]
    else:
        storage = ["--backend-store-uri", settings.tracking_uri, "--default-artifact-root"]
        storage.append(settings.artifact_root.as_uri())
    port = port or settings.mlflow_port
    return [_bin("mlflow"), "server", *storage, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def service_commands(
    settings: RelaySettings, dagster_port: int = 3000, mlflow_port: int | None = None
) -> dict[str, list[str]]:
    webserver = ["-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(dagster_port)]
    return {
        "mlflow": mlflow_server_command(settings, mlflow_port),
        "dagster-webserver": [_bin("dagster-webserver"), *webserver],
        "dagster-daemon": [_bin("dagster-daemon"), "run", "-m", "orchestration.definitions"],
    }


def health_urls(settings: RelaySettings, dagster_port: int = 3000, mlflow_port: int | None = None) -> dict[str, str]:
    """What answers 200 once a service is up (the daemon has no HTTP endpoint)."""
    return {
        "mlflow": f"http://127.0.0.1:{mlflow_port or settings.mlflow_port}/health",
        "dagster-webserver": f"http://127.0.0.1:{dagster_port}/server_info",
    }


def service_env(settings: RelaySettings) -> dict[str, str]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "RELAY_HOME": str(settings.root),
        "RELAY_PROFILE": settings.profile,
        "RELAY_MLFLOW_PORT": str(settings.mlflow_port),
        "RELAY_DATABASE_PREFIX": settings.database_prefix,
        "RELAY_POSTGRES_SERVER": settings.postgres_server,
        "RELAY_FEAST_PROJECT": settings.feast_project,
        "RELAY_REDIS_URL": settings.redis_url,
    }
    if settings.profile == "production":
        env["RELAY_DAGSTER_PG_URL"] = settings.database_url("dagster")
        env["MLFLOW_BACKEND_STORE_URI"] = settings.database_url("mlflow")  # read by `mlflow server`
    return env


def create_dagster_storage(settings: RelaySettings) -> None:
    """Write ``dagster.yaml`` and create the instance's storage once, before the webserver, the
    daemon and their code servers start: started together on a fresh home they race to create it
    (SQLite then holds two alembic heads, and every later load fails with a traceback)."""
    from orchestration.runner import dagster_instance  # imports Dagster: only when starting it

    dagster_instance(settings).dispose()


# -- foreground: ``relay ui`` ------------------------------------------------------------------
def ui_log_dir(settings: RelaySettings) -> Path:
    return processes.run_dir(settings) / "ui"


def start_ui(
    supervisor: processes.Supervisor, settings: RelaySettings, dagster_port: int = 3000, mlflow_port: int | None = None
) -> None:
    """Start the Dagster webserver and daemon and the MLflow UI under ``supervisor``."""
    create_dagster_storage(settings)
    env = service_env(settings)
    for name, command in service_commands(settings, dagster_port=dagster_port, mlflow_port=mlflow_port).items():
        supervisor.start(name, command, env)


# -- background: ``relay services up|down|status`` ----------------------------------------------
def status(settings: RelaySettings) -> dict[str, dict[str, Any]]:
    """Each service's pid file and whether that process still runs."""
    return {name: processes.recorded_state(processes.run_dir(settings), name) for name in SERVICES}


def up(
    settings: RelaySettings,
    only: list[str] | None = None,
    dagster_port: int = 3000,
    timeout_s: float = 240.0,
) -> dict[str, dict[str, Any]]:
    """Start the profile's services in the background (pid files and logs under ``<home>/run``),
    creating the production databases first; waits until each answers. Idempotent."""
    names = only or list(SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown services {unknown}; choose from {list(SERVICES)}")
    settings.ensure_dirs()
    directory = processes.run_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    if settings.profile == "production":
        ensure_databases(settings)
    running = status(settings)
    if any(name.startswith("dagster") and not running[name]["running"] for name in names):
        create_dagster_storage(settings)
    commands, env = service_commands(settings, dagster_port), service_env(settings)
    urls = health_urls(settings, dagster_port)
    started = {}
    for name in names:
        if running[name]["running"]:
            continue
        log = directory / f"{name}.log"
        started[name] = processes.spawn(commands[name], env, log)
        processes.record_pid(directory, name, started[name], log=str(log), url=urls.get(name))
    try:
        for name, process in started.items():
            if name in urls:
                processes.wait_for(urls[name], timeout_s, process)
            else:  # the daemon has no HTTP endpoint: it must still run after its start-up
                time.sleep(3)
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {directory / name}.log")
    except Exception:
        down(settings, list(started))
        raise
    return status(settings)


def down(settings: RelaySettings, only: list[str] | None = None, grace_s: float = 30.0) -> list[str]:
    """Stop the services started by ``up``; returns the names stopped."""
    directory = processes.run_dir(settings)
    return [name for name in only or list(SERVICES) if processes.stop_recorded(directory, name, grace_s)]
