"""The production profile for real: Dagster storage, the MLflow backend and the Feast registry on
Postgres, the Feast online store on Redis, and an MLflow tracking server. Each run gets its own
databases and Feast project (so its own Redis keys), and removes them afterwards."""

import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import dagster as dg
import httpx
import pandas as pd
import psycopg2
import pytest
import redis
from fastapi.testclient import TestClient

from core import lake
from core.databases import drop_databases
from core.events import most_active_user
from core.landing import served_files
from core.processes import free_port
from core.settings import REPO_ROOT, RelaySettings
from features.feast_store import open_store
from relay import services
from serving.app import create_app
from tests.pipeline import materialize_days, materialize_training, tiny_world
from training import registry

pytestmark = pytest.mark.slow


def _redis_keys(project: str) -> int:
    client = redis.Redis(host="127.0.0.1", port=6379)
    return sum(1 for key in client.scan_iter(count=1000) if project.encode() in key)


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    tag = uuid4().hex[:8]
    settings = RelaySettings(
        home=tmp_path_factory.mktemp("production") / "var",
        profile="production",
        database_prefix=f"relay_test_{tag}",
        feast_project=f"relay_test_{tag}",
        mlflow_port=free_port(),
    )
    settings.ensure_dirs()
    assert services.up(settings, only=["mlflow"])["mlflow"]["running"]  # creates the databases first
    previous_url = os.environ.get("RELAY_DAGSTER_PG_URL")
    os.environ["RELAY_DAGSTER_PG_URL"] = settings.database_url("dagster")
    shutil.copyfile(REPO_ROOT / "infra" / "production" / "dagster.yaml", settings.dagster_home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        world = tiny_world(settings)
        last = (world.start + timedelta(days=world.n_days - 1)).isoformat()
        data = materialize_days(settings, world.start_date, last, instance)
        training = materialize_training(settings, instance)
        yield settings, instance, data, training
    finally:
        instance.dispose()
        open_store(settings).teardown()  # the project's Redis keys and online tables
        services.down(settings)
        drop_databases(settings)
        if previous_url is None:
            os.environ.pop("RELAY_DAGSTER_PG_URL", None)
        else:
            os.environ["RELAY_DAGSTER_PG_URL"] = previous_url


def test_the_pipeline_runs_on_postgres_redis_and_an_mlflow_server(production):
    settings, _, data, training = production
    assert data.success and training.success
    with psycopg2.connect(settings.database_url("dagster", driver=False)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs")
        assert cursor.fetchone()[0] == 2  # the data run and the training run, stored in Postgres
    with psycopg2.connect(settings.database_url("feast", driver=False)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM feature_views WHERE project_id = %s", (settings.feast_project,))
        assert cursor.fetchone()[0] >= 5  # 3 feature tables + the embedding views, in the SQL registry
    assert _redis_keys(settings.feast_project) > 0  # online features live in Redis
    registry.configure(settings)
    assert settings.tracking_uri.startswith("http://127.0.0.1:")
    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    assert champion is not None and champion.tags["gate"] == "passed"


def test_serving_reads_redis_and_the_champion_from_the_tracking_server(production):
    settings, *_ = production
    with lake.connect(settings) as con:
        user = most_active_user(con)
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/recommend/{user}", params={"k": 5}).json()
    assert body["fallback"] is None and len(body["items"]) == 5 and body["model_version"] == 1
    (served,) = served_files(settings.served_dir, pd.Timestamp.now(tz="UTC").date())  # the feedback log
    assert pd.read_parquet(served)["event_id"].str.startswith("srv-").all()


def _relay(settings: RelaySettings, *args: str) -> subprocess.CompletedProcess:
    relay = str(Path(sys.executable).with_name("relay"))
    return subprocess.run([relay, *args], env=services.service_env(settings), capture_output=True, text=True)


def test_relay_services_run_the_dagster_webserver_and_daemon_on_postgres(production):
    settings, *_ = production
    port = free_port()
    up = _relay(settings, "services", "up", "--only", "dagster-webserver", "--only", "dagster-daemon",
                "--dagster-port", str(port))  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=10).status_code == 200
        status = _relay(settings, "services", "status").stdout
        assert "dagster-daemon" in status and "mlflow" in status and "stopped" not in status
        deadline = time.monotonic() + 120
        heartbeats = 0
        while not heartbeats and time.monotonic() < deadline:  # the daemon's heartbeats land in Postgres
            url = settings.database_url("dagster", driver=False)
            with psycopg2.connect(url) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM daemon_heartbeats")
                heartbeats = cursor.fetchone()[0]
            time.sleep(2)
        assert heartbeats > 0
    finally:
        down = _relay(settings, "services", "down", "--only", "dagster-webserver", "--only", "dagster-daemon")
    assert "stopped: dagster-webserver, dagster-daemon" in down.stdout
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert services.status(settings)["mlflow"]["running"]  # the others keep running
