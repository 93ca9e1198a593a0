"""The production profile's services: its Postgres databases, the MLflow tracking server, and
the Dagster webserver and daemon, started and stopped by ``relay``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg2
from psycopg2 import sql

from relay.config import RelaySettings

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


def mlflow_server_command(settings: RelaySettings) -> list[str]:
    """MLflow with a Postgres backend; artifacts proxied by the server into ``<home>/mlflow/artifacts``."""
    return [
        _bin("mlflow"),
        "server",
        "--backend-store-uri",
        settings.database_url("mlflow"),
        "--artifacts-destination",
        str(settings.artifact_root),
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.mlflow_port),
        "--workers",
        "1",
    ]


def service_env(settings: RelaySettings) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "RELAY_HOME": str(settings.root),
        "RELAY_PROFILE": settings.profile,
        "RELAY_DAGSTER_PG_URL": settings.database_url("dagster"),
    }


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


@dataclass
class Service:
    name: str
    process: subprocess.Popen

    def stop(self, grace_s: float = 30.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_mlflow(settings: RelaySettings, log: Path | None = None, timeout_s: float = 180.0) -> Service:
    """Start the tracking server and wait until it answers (it can take ~40 s on a busy machine)."""
    settings.artifact_root.mkdir(parents=True, exist_ok=True)
    output = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
    process = subprocess.Popen(
        mlflow_server_command(settings),
        env=service_env(settings),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    service = Service("mlflow", process)
    try:
        wait_for(f"{settings.tracking_uri}/health", timeout_s, process)
    except Exception:
        service.stop()
        raise
    return service
