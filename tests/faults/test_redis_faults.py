"""Redis, the production profile's online store, failing under /recommend: stopped under load, then
back but empty, then restored by the Dagster sensor's job. A redis-server of the test's own on a
free port (the machine's Redis is never touched), the real app under uvicorn, a tiny champion.

The world is the embedded profile's (file registry, SQLite MLflow) with the production profile's
``online_store`` block pointed at that Redis: the fault is Redis, and a Postgres registry and an
MLflow server would only add start-up time. The counts measured are printed at the end.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import dagster as dg
import httpx
import pandas as pd
import pytest
import redis
import uvicorn
import yaml

from core.processes import free_port
from core.settings import REPO_ROOT, RelaySettings
from feature_repo.tables import embedding_dir
from features import feast_store
from orchestration.definitions import build_definitions
from orchestration.sensors import ONLINE_STORE_RESTORE_JOB
from serving.app import create_app
from serving.options import ServingOptions
from tests.pipeline import QUIET, TINY_TRAINING, materialize_days, materialize_training, tiny_world
from training import registry
from training.ranker.bundle import TWO_STAGE

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REDIS_SERVER = "/usr/bin/redis-server"
CLIENT_TIMEOUT_S = 5.0  # the measure: before the guard, requests hung past it
LOAD_THREADS = 4
WARM_USERS, COLD_USERS = 20, 10  # requested before the outage (cached) / first requested during it
OUTAGE_REQUESTS = 100
# The champion's world, as small as the tiny pipeline allows; promoted on the record whatever the
# gate says of a 4-epoch model (the faults are about serving it, not about its quality).
TRAINING = {
    **TINY_TRAINING,
    "ops": {
        **TINY_TRAINING["ops"],
        "sasrec_model": {"config": {"epochs": 4, "dim": 32, "patience": 4}},
        "ranker_model": {"config": {"n_estimators": 30, "min_child_samples": 20}},
        "champion": {"config": {"override_reason": "faults test world", "override_by": "tests/faults"}},
    },
}
OPTIONS = ServingOptions(
    poll_s=3600.0, log_impressions=False, online_timeout_s=0.25, online_retry_s=0.2, probe_s=0.5
)  # fmt: skip


class RedisServer:
    """One redis-server without persistence in ``directory``; stopped with SIGTERM, restarted empty."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*command, "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client, deadline = redis.Redis(port=self.port, socket_connect_timeout=1), time.monotonic() + 60
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def keys(self) -> int:
        return redis.Redis(port=self.port).dbsize()


class Server:
    """The app under uvicorn in a thread of this process (it shares the patched profile YAML)."""

    def __init__(self, settings: RelaySettings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings, OPTIONS, watch=False), port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=CLIENT_TIMEOUT_S)
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _profile_yaml(directory: Path) -> Path:
    """The embedded profile's YAML with the production profile's online store (Redis, ``RELAY_REDIS_URL``)."""
    embedded = yaml.safe_load(feast_store.PROFILE_YAML["embedded"].read_text())
    production = yaml.safe_load((REPO_ROOT / "infra" / "production" / "feature_store.yaml").read_text())
    embedded["online_store"] = production["online_store"]
    path = directory / "feature_store.yaml"
    path.write_text(yaml.safe_dump(embedded))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("redis_faults")
    server = RedisServer(root, free_port())
    server.start()
    settings = RelaySettings(
        home=root / "var", redis_url=f"127.0.0.1:{server.port}", feast_project=f"relay_faults_{uuid4().hex[:8]}"
    )
    settings.ensure_dirs()
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(feast_store.PROFILE_YAML, "embedded", _profile_yaml(root))
        try:
            world = tiny_world(settings)  # the world every pipeline test uses, so every check passes it
            last = (world.start + timedelta(days=world.n_days - 1)).isoformat()
            instance = dg.DagsterInstance.ephemeral()
            assert materialize_days(settings, world.start_date, last, instance).success
            assert materialize_training(settings, instance, run_config=TRAINING).success
            registry.configure(settings)  # the whole request path: user, item and category reads
            registry.tag_version(settings.ranker_model_name, 1, {registry.CONFIGURATION_TAG: TWO_STAGE})
            version = int(registry.alias_version(settings.ranker_model_name, registry.CHAMPION).version)
            users = pd.read_parquet(embedding_dir(settings.embeddings_dir, 1) / "user_embeddings.parquet")["user_id"]
            yield settings, instance, server, version, [int(u) for u in users.unique()]
        finally:
            server.stop()


def _get(client: httpx.Client, user: int) -> tuple[int | str, dict]:
    """(status code or "timeout", body); the request's start is in the body as ``_started``."""
    started = time.monotonic()
    try:
        response = client.get(f"/recommend/{user}", params={"k": 5})
    except httpx.TimeoutException:
        return "timeout", {"_started": started}
    body = response.json() if response.status_code == 200 else {}
    return response.status_code, {**body, "_started": started}


def _kind(body: dict) -> str:
    """How an answer was served: fresh, from the last-good cache, or a named fallback."""
    if body.get("fallback"):
        return f"fallback:{body['fallback']}"
    return "cache" if body.get("features_source") == "cache" else "fresh"


def _health(client: httpx.Client, reason: str | None, timeout_s: float = 60) -> dict:
    """/healthz once its reason is ``reason`` (it probes the store at most every probe_s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get("/healthz").json()
        if body["reason"] == reason or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def _metrics(client: httpx.Client) -> dict[str, float]:
    samples = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(("relay_fallbacks_total", "relay_features_source_total", "relay_online_store_errors_total")):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in sorted(after) if after[name] != before.get(name)}


def test_redis_stopped_under_load_then_back_empty_then_restored_by_the_sensor(world, capsys):
    settings, instance, redis_server, version, users = world
    warm, cold = users[:WARM_USERS], users[WARM_USERS : WARM_USERS + COLD_USERS]
    assert len(cold) == COLD_USERS
    report: dict[str, object] = {}
    with Server(settings) as client:
        before = _metrics(client)
        assert client.get("/healthz").json()["status"] == "ok"
        answers = [_get(client, user) for user in warm]
        assert {_kind(body) for _, body in answers} == {"fresh"}  # these users are now in the cache

        # 1. Redis stopped (SIGTERM) while 4 clients keep requesting warm users: the stop lands among
        # requests in flight (any answer but a 500 or a timeout will do for those). Every request that
        # starts after it, for warm users or users never requested before (cold), must be answered from
        # the cache or with the named fallback.
        mixed = [*warm, *cold] * 4
        with ThreadPoolExecutor(LOAD_THREADS) as pool:
            around = [pool.submit(_get, client, user) for user in warm * 3]
            for future in around[:40]:
                future.result()
            redis_server.stop()
            stopped = time.monotonic()
            after = [(user, pool.submit(_get, client, user)) for user in mixed[:OUTAGE_REQUESTS]]
            around_answers = [future.result() for future in around]
            after_answers = [(user, *future.result()) for user, future in after]
        statuses = Counter(status for status, _ in around_answers) + Counter(a[1] for a in after_answers)
        assert statuses == {200: len(around) + OUTAGE_REQUESTS}  # no 500, no timeout
        for user, _, body in after_answers:
            assert body["_started"] > stopped
            expected = "cache" if user in warm else "fallback:online_store_unavailable"
            assert _kind(body) == expected, (user, body)
        served = [body for _, body in around_answers] + [body for _, _, body in after_answers]
        degraded = client.get("/healthz").json()
        assert (degraded["status"], degraded["reason"]) == ("degraded", "online_store_unavailable")
        report["stopped"] = {
            "answers": dict(statuses),
            "in flight at the stop": dict(Counter(_kind(body) for _, body in around_answers[40:])),
            "after the stop": dict(Counter(_kind(body) for _, _, body in after_answers)),
            "healthz": degraded["reason"],
        }

        # 2. Redis back on the same port, empty (it keeps nothing on disk).
        redis_server.start()
        assert redis_server.keys() == 0
        empty = _health(client, "online_store_empty")
        assert (empty["status"], empty["reason"]) == ("degraded", "online_store_empty")
        answers = [_get(client, user) for user in [*warm, *cold]]
        assert {status for status, _ in answers} == {200}
        served += [body for _, body in answers]
        kinds = Counter(_kind(body) for _, body in answers)
        assert kinds == {"cache": WARM_USERS, "fallback:online_store_empty": COLD_USERS}
        report["empty"] = {"kinds": dict(kinds), "healthz": empty["reason"]}

        # 3. Repaired without a person: the sensor sees the empty store and requests the restore job.
        defs = build_definitions(settings)
        sensor = defs.resolve_sensor_def("online_store_sensor")
        request = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(request, dg.RunRequest) and request.tags["relay/reason"] == "online_store_empty"
        restore = defs.resolve_job_def(ONLINE_STORE_RESTORE_JOB).execute_in_process(
            instance=instance, tags=request.tags, run_config=QUIET
        )
        assert restore.success and redis_server.keys() > 0
        healthy = _health(client, None)
        assert healthy["status"] == "ok" and healthy["model_version"] == version
        answers = [_get(client, user) for user in [*warm, *cold]]
        assert Counter(_kind(body) for _, body in answers) == {"fresh": WARM_USERS + COLD_USERS}
        assert isinstance(sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
        report["restored"] = {"views": restore.output_for_node("restore_online_views"), "healthz": "ok"}
        measured = _deltas(before, _metrics(client))

    by_kind = Counter(_kind(body) for body in served)  # /metrics counts exactly what the answers said
    for reason in ("online_store_unavailable", "online_store_empty"):
        assert measured[f'relay_fallbacks_total{{reason="{reason}"}}'] == by_kind[f"fallback:{reason}"]
    assert measured['relay_features_source_total{source="cache"}'] == by_kind["cache"]
    assert sum(v for name, v in measured.items() if name.startswith("relay_online_store_errors_total")) >= 1
    with capsys.disabled():
        print("\nRedis faults, measured:")
        for phase, counts in report.items():
            print(f"  {phase}: {counts}")
        for name, value in measured.items():
            print(f"  {name} +{value:g}")
