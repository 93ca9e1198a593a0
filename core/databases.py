"""The production profile's Postgres databases (``<prefix>_dagster``, ``_mlflow``, ``_feast``).

Plain infrastructure: ``relay services up`` creates them before it starts the servers that use
them, and tests and benchmarks drop them when they are done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


def database_names(settings: RelaySettings) -> list[str]:
    return [f"{settings.database_prefix}_{purpose}" for purpose in PURPOSES]


def ensure_databases(settings: RelaySettings) -> list[str]:
    """Create the profile's databases that do not exist yet; returns the ones created."""
    created = []
    with _admin(settings) as cursor:
        for name in database_names(settings):
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(name)
    return created


def drop_databases(settings: RelaySettings) -> None:
    """Drop the profile's databases (tests and benchmarks clean up after themselves with this)."""
    with _admin(settings) as cursor:
        for name in database_names(settings):
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
