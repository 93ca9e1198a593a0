"""The production profile's services: its Postgres databases, the MLflow tracking server, and
the Dagster webserver and daemon, started and stopped by ``relay``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg2
from psycopg2 import sql

from core.settings import RelaySettings

PURPOSES = ("dagster", "mlflow", "feast")


@contextmanager
def _admin(settings: RelaySettings) -> Iterator[psycopg2.extensions.cursor]:
    """An autocommit cursor on the server's maintenance database (CREATE DATABASE needs one)."""
    server = settings.postgres_server.replace("postgresql+psycopg2://", "postgresql://").rstrip("/")
    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def ensure_databases(settings: RelaySettings) -> list[str]:
    """Create the profile's databases that do not exist yet; returns the ones created."""
    created = []
    with _admin(settings) as cursor:
        for purpose in PURPOSES:
            name = f"{settings.database_prefix}_{purpose}"
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(name)
    return created


def drop_databases(settings: RelaySettings) -> None:
    """Drop the profile's databases (tests clean up after themselves with this)."""
    with _admin(settings) as cursor:
        for purpose in PURPOSES:
            name = f"{settings.database_prefix}_{purpose}"
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


SERVICES = ("mlflow", "dagster-webserver", "dagster-daemon")


def mlflow_server_command(settings: RelaySettings, port: int | None = None) -> list[str]:
    """Production: a Postgres backend, artifacts proxied by the server into ``<home>/mlflow/artifacts``.
    Embedded: the same SQLite file and artifact folder the pipeline writes (a UI over them)."""
    if settings.profile == "production":
        storage = ["--backend-store-uri", settings.database_url("mlflow"), "--artifacts-destination"]
        storage.append(str(settings.artifact_root))
    else:
        storage = ["--backend-store-uri", settings.tracking_uri, "--default-artifact-root"]
        storage.append(settings.artifact_root.as_uri())
    port = port or settings.mlflow_port
    return [_bin("mlflow"), "server", *storage, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def service_commands(settings: RelaySettings, dagster_port: int = 3000, mlflow_port: int | None = None) -> dict:
    webserver = ["-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(dagster_port)]
    return {
        "mlflow": mlflow_server_command(settings, mlflow_port),
        "dagster-webserver": [_bin("dagster-webserver"), *webserver],
        "dagster-daemon": [_bin("dagster-daemon"), "run", "-m", "orchestration.definitions"],
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
    return env


def free_port() -> int:
    """A loopback port nothing listens on now (for tests and benchmarks that start servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{' '.join(process.args[:2])} exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f}s")


def _restore_default_signals() -> None:
    # A shell that backgrounds us sets SIGINT to "ignore", and children inherit it; restore it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def spawn(command: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """A child in its own process group (so stopping it stops its workers too)."""
    output = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
    return subprocess.Popen(
        command,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        preexec_fn=_restore_default_signals,
        start_new_session=True,
    )


def stop_group(pid: int, grace_s: float = 30.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace_s``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Service:
    name: str
    process: subprocess.Popen

    def stop(self, grace_s: float = 30.0) -> None:
        if self.process.poll() is None:
            stop_group(self.process.pid, grace_s)
            self.process.wait()


def start_mlflow(settings: RelaySettings, log: Path | None = None, timeout_s: float = 180.0) -> Service:
    """Start the tracking server in the foreground's lifetime and wait until it answers."""
    settings.artifact_root.mkdir(parents=True, exist_ok=True)
    service = Service("mlflow", spawn(mlflow_server_command(settings), service_env(settings), log))
    try:
        wait_for(f"http://127.0.0.1:{settings.mlflow_port}/health", timeout_s, service.process)
    except Exception:
        service.stop()
        raise
    return service


# -- detached services: ``relay services up|down|status`` ------------------------------------
def run_dir(settings: RelaySettings) -> Path:
    return settings.root / "run"


def _pidfile(settings: RelaySettings, name: str) -> Path:
    return run_dir(settings) / f"{name}.json"


def status(settings: RelaySettings) -> dict[str, dict]:
    """Each service's pid file and whether that process still runs."""
    states = {}
    for name in SERVICES:
        path = _pidfile(settings, name)
        if path.exists():
            record = json.loads(path.read_text())
            states[name] = {**record, "running": _alive(record["pid"])}
        else:
            states[name] = {"running": False}
    return states


def up(
    settings: RelaySettings,
    only: list[str] | None = None,
    dagster_port: int = 3000,
    timeout_s: float = 240.0,
) -> dict[str, dict]:
    """Start the profile's services in the background (pid files and logs under ``<home>/run``),
    creating the production databases first; waits until each answers. Idempotent."""
    from orchestration.runner import write_dagster_yaml

    names = only or list(SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown services {unknown}; choose from {list(SERVICES)}")
    settings.ensure_dirs()
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    if settings.profile == "production":
        ensure_databases(settings)
    write_dagster_yaml(settings)
    commands, env = service_commands(settings, dagster_port), service_env(settings)
    urls = {
        "mlflow": f"http://127.0.0.1:{settings.mlflow_port}/health",
        "dagster-webserver": f"http://127.0.0.1:{dagster_port}/server_info",
    }
    running = status(settings)
    started: dict[str, subprocess.Popen] = {}
    for name in names:
        if running[name]["running"]:
            continue
        log = run_dir(settings) / f"{name}.log"
        started[name] = spawn(commands[name], env, log)
        record = {"pid": started[name].pid, "command": commands[name], "log": str(log), "url": urls.get(name)}
        _pidfile(settings, name).write_text(json.dumps(record, indent=2))
    try:
        for name, process in started.items():
            if name in urls:
                wait_for(urls[name], timeout_s, process)
            else:  # the daemon has no HTTP endpoint: it must still run after its start-up
                time.sleep(3)
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {run_dir(settings) / name}.log")
    except Exception:
        down(settings, list(started))
        raise
    return status(settings)


def down(settings: RelaySettings, only: list[str] | None = None, grace_s: float = 30.0) -> list[str]:
    """Stop the services started by ``up``; returns the names stopped."""
    stopped = []
    for name in only or list(SERVICES):
        path = _pidfile(settings, name)
        if not path.exists():
            continue
        pid = json.loads(path.read_text())["pid"]
        if _alive(pid):
            stop_group(pid, grace_s)
            stopped.append(name)
        path.unlink()
    return stopped
