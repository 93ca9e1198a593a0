"""Serving for real on a tiny world's champion: the request path's features equal the feature
service's, business rules, validation, /metrics, structured logs, a hot swap under load, and the
feedback loop (served impressions ingested by the next day's run)."""

import threading
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from core import lake
from core.events import most_active_user
from core.landing import partition_path, read_partition, served_files
from core.settings import RelaySettings
from evaluation.holdout import CONFIGURATION_LISTS, served_lists
from features.retrieval import online_features
from orchestration.checks import all_checks
from orchestration.partitions import partition_range_tags
from orchestration.resources import build_resources
from serving.app import create_app
from serving.options import ServingOptions
from tests.pipeline import QUIET, data_assets, materialize_days, materialize_training, tiny_world
from training import registry
from training.ranker.bundle import CONFIGURATIONS, FIRST_STAGE, POPULARITY, TWO_STAGE

pytestmark = pytest.mark.slow
DAYS = 19  # the pipeline ingests 18; the 19th is "tomorrow's" partition, served into first


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    settings = RelaySettings(home=tmp_path_factory.mktemp("serving") / "var")
    settings.ensure_dirs()
    world = tiny_world(settings, days=DAYS)
    last_trained = (world.start + timedelta(days=DAYS - 2)).isoformat()
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_days(settings, world.start_date, last_trained, instance).success
    assert materialize_training(settings, instance).success
    # These tests exercise the whole two-stage request path, whichever configuration the tiny
    # world's gate chose (the gate's choice is tested in tests/orchestration).
    registry.configure(settings)
    registry.tag_version(settings.ranker_model_name, 1, {registry.CONFIGURATION_TAG: TWO_STAGE})
    with lake.connect(settings) as con:
        user = most_active_user(con)
    serving_day = (world.start + timedelta(days=DAYS - 1)).isoformat()
    return settings, instance, user, serving_day


def _options(**overrides) -> ServingOptions:
    return ServingOptions(**{"poll_s": 3600.0, "log_impressions": False, **overrides})


def test_request_path_features_equal_the_feature_service(trained):
    settings, _, user, _ = trained
    with TestClient(create_app(settings, _options(), watch=False)) as client:
        recommender = client.app.state.watcher.current
        bundle = recommender.bundle
        row = recommender.online.user(user)
        positions, _ = bundle.retrieve_positions(row.vector[None, :], 200)
        positions = positions[0]
        items, categories = bundle.item_ids[positions], bundle.item_categories[positions]
        now = pd.Timestamp.now(tz="UTC")
        fast = recommender.online.matrix(row, user, positions, categories, now)
        service = online_features(recommender.store, user, items, categories, bundle.embedding_version, now)
        served_scores, _ = bundle.score_matrix(fast)
    assert service["item_id"].tolist() == items.tolist()
    np.testing.assert_allclose(fast, service[bundle.features].to_numpy(float), rtol=1e-6, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(served_scores, bundle.score(service), rtol=1e-6, atol=1e-9)


def test_recommendations_follow_the_business_rules(trained):
    settings, _, user, _ = trained
    with TestClient(create_app(settings, _options(max_per_category=2), watch=False)) as client:
        recommender = client.app.state.watcher.current
        seen = set(recommender.online.user(user).recent_items.tolist())
        assert seen, "the most active user has consumed items"
        body = client.get(f"/recommend/{user}", params={"k": 8}).json()
        items = [item["item_id"] for item in body["items"]]
        assert body["fallback"] is None and body["model_version"] == 1 and len(items) == 8
        assert not seen & set(items)  # already-seen items never come back
        bundle = recommender.bundle
        category = dict(zip(bundle.item_ids.tolist(), bundle.item_categories.tolist(), strict=True))
        assert max(pd.Series([category[i] for i in items]).value_counts()) <= 2
        scores = [item["score"] for item in body["items"]]
        assert all(0 <= s <= 1 for s in scores) and [i["propensity"] for i in body["items"]] == [1.0] * 8

        excluded = client.post("/recommend", json={"user_id": user, "k": 8, "exclude_item_ids": items[:3]}).json()
        assert not set(items[:3]) & {item["item_id"] for item in excluded["items"]}

        newcomer = client.get("/recommend/987654321", params={"k": 5}).json()
        assert newcomer["fallback"] == "no_user_embedding" and len(newcomer["items"]) == 5


def _sample(metrics: str, name: str) -> float:
    """One sample's value from the Prometheus text (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


COUNTED = (
    'relay_requests_total{route="/recommend",status="413"}',
    'relay_requests_total{route="/recommend",status="422"}',
    'relay_requests_total{route="/recommend",status="200"}',
    'relay_fallbacks_total{reason="no_user_embedding"}',
    'relay_stage_latency_seconds_count{stage="ranking"}',
    "relay_model_swaps_total",
    "relay_model_load_failures_total",
)


def _counts(client: TestClient) -> dict[str, float]:
    # Feast turns on prometheus_client's multiprocess mode, where apps in one process share
    # samples (serving/metrics.py), so tests compare deltas.
    text = client.get("/metrics").text
    return {name: _sample(text, name) for name in COUNTED}


def _deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in COUNTED}


def test_the_offline_list_is_the_served_list(trained):
    """Offline evaluation judges a model on exactly the list serving returns: same candidates,
    seen-item filter, category cap and tie-breaking, for the same user at the same moment."""
    settings, _, user, serving_day = trained
    with TestClient(create_app(settings, _options(), watch=False)) as client:
        recommender = client.app.state.watcher.current
        # A live request on the serving day: the newest feature rows (stamped at its midnight) are fresh.
        as_of = pd.Timestamp(serving_day, tz="UTC") + pd.Timedelta(hours=1)
        recommender.clock = lambda: as_of
        served = {}
        for configuration in CONFIGURATIONS:  # each configuration the gate may choose serves its own list
            recommender.configuration = configuration
            served[configuration] = recommender.recommend(user, 10)
        offline = served_lists(
            recommender.store, recommender.bundle, np.array([user]), as_of, lake.read_catalog(settings)
        )
    two_stage = served[TWO_STAGE]
    assert two_stage.fallback is None and len(two_stage.item_ids) == 10 and two_stage.configuration == TWO_STAGE
    for configuration, name in CONFIGURATION_LISTS.items():
        assert offline.lists[name][0].tolist() == served[configuration].item_ids, configuration
        np.testing.assert_allclose(offline.list_scores[configuration][0], served[configuration].scores, rtol=1e-6)
    assert served[POPULARITY].fallback is None and served[FIRST_STAGE].configuration == FIRST_STAGE
    assert not set(offline.lists["sasrec"][0].tolist()) & set(recommender.online.user(user).recent_items.tolist())


def test_bad_requests_get_clear_4xx_answers_and_everything_is_measured(trained):
    settings, _, user, _ = trained
    with capture_logs() as logs, TestClient(create_app(settings, _options(max_k=50), watch=False)) as client:
        before = _counts(client)
        malformed = client.get("/recommend/not-a-user")
        assert malformed.status_code == 422 and malformed.json()["detail"].startswith("user_id:")
        assert "greater than or equal to 1" in client.get("/recommend/0").json()["detail"]
        assert client.get(f"/recommend/{user}", params={"k": 0}).status_code == 422
        over = client.get(f"/recommend/{user}", params={"k": 51})
        assert over.status_code == 422 and over.json()["detail"] == "k: must be at most 50, got 51"
        extra = client.post("/recommend", json={"user_id": user, "mystery": 1})
        assert extra.status_code == 422 and "mystery: Extra inputs are not permitted" in extra.json()["detail"]
        huge = client.post("/recommend", json={"user_id": user, "exclude_item_ids": list(range(1, 5000))})
        assert huge.status_code == 413 and "16384 bytes" in huge.json()["detail"]
        assert client.get(f"/recommend/{user}").status_code == 200
        assert client.get("/recommend/987654321").status_code == 200
        metrics = client.get("/metrics").text
        deltas = _deltas(before, _counts(client))
    assert 'relay_request_latency_seconds_bucket{le="0.03",route="/recommend"}' in metrics
    assert deltas['relay_requests_total{route="/recommend",status="413"}'] == 1
    assert deltas['relay_requests_total{route="/recommend",status="422"}'] == 5
    assert deltas['relay_requests_total{route="/recommend",status="200"}'] == 2
    assert deltas['relay_fallbacks_total{reason="no_user_embedding"}'] == 1
    assert deltas['relay_stage_latency_seconds_count{stage="ranking"}'] == 1
    assert _sample(metrics, "relay_model_version") == 1
    served = [entry for entry in logs if entry["event"] == "recommendation"]
    assert len(served) == 2 and served[0]["user_id"] == user and served[0]["model_version"] == 1
    assert set(served[0]["ms"]) == {"user_lookup", "retrieval", "features", "ranking", "rules"}


def _copy_version(settings: RelaySettings, source_version: int, **tag_overrides) -> int:
    """Register the same artifacts again (a new version the registry can alias)."""
    client = registry.MlflowClient()
    source = client.get_model_version(settings.ranker_model_name, str(source_version))
    name = settings.ranker_model_name
    copy = client.copy_model_version(f"models:/{name}/{source_version}", name)
    for key, value in {**source.tags, **tag_overrides}.items():
        client.set_model_version_tag(settings.ranker_model_name, copy.version, key, value)
    return int(copy.version)


def test_hot_swap_serves_the_new_champion_without_dropping_a_request(trained):
    settings, _, user, _ = trained
    registry.configure(settings)
    champion = int(registry.alias_version(settings.ranker_model_name, registry.CHAMPION).version)
    with TestClient(create_app(settings, _options(), watch=False)) as client:
        watcher = client.app.state.watcher
        before = _counts(client)
        statuses, versions, stop = [], [], threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                response = client.get(f"/recommend/{user}", params={"k": 5})
                statuses.append(response.status_code)
                versions.append(response.json().get("model_version"))

        threads = [threading.Thread(target=traffic) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            new = _copy_version(settings, champion)
            registry.promote(settings.ranker_model_name, new)
            assert watcher.check()  # what the poller does every poll_s
            served_before, deadline = len(versions), time.monotonic() + 60
            while len(versions) < served_before + 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            # A champion whose artifacts fail verification never replaces the serving one.
            broken = _copy_version(settings, champion, **{"artifact_sha256/items.npz": "0" * 64})
            registry.promote(settings.ranker_model_name, broken)
            assert not watcher.check()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            registry.promote(settings.ranker_model_name, champion)
        metrics = client.get("/metrics").text
        deltas = _deltas(before, _counts(client))
    assert set(statuses) == {200}
    assert versions[0] == champion and versions[-1] == new and set(versions) == {champion, new}
    assert deltas["relay_model_swaps_total"] == 1 and deltas["relay_model_load_failures_total"] == 1
    assert _sample(metrics, "relay_model_version") == new


def test_served_impressions_are_ingested_by_the_next_days_run(trained):
    settings, instance, user, day = trained
    noon = pd.Timestamp(f"{day} 12:00", tz="UTC")
    options = _options(log_impressions=True, temperature=0.5)
    with TestClient(create_app(settings, options, clock=lambda: noon, watch=False)) as client:
        bodies = [client.get(f"/recommend/{u}", params={"k": 4}).json() for u in (user, user, 987654321)]
    # Shutdown flushed the log into the landing area, beside the producers' partition of that day.
    (served_file,) = served_files(settings.served_dir, day)
    served = pd.read_parquet(served_file)
    assert len(served) == 12 and set(served["event_type"]) == {"impression"}
    assert served["ts"].eq(noon).all()
    sampled = [item["propensity"] for item in bodies[0]["items"]]
    assert all(0 < p <= 1 for p in sampled) and min(sampled) < 1.0  # exploration logs real propensities
    assert served["propensity"].tolist()[:4] == sampled

    producer_rows = len(read_partition(settings.landing_dir, day))
    assert partition_path(settings.landing_dir, day).exists()
    result = dg.materialize(
        [*data_assets(), *all_checks],
        resources=build_resources(settings),
        instance=instance,
        tags=partition_range_tags(day, day),
        run_config=QUIET,
    )
    assert result.success
    with lake.connect(settings) as con:
        landed, clean = con.execute("SELECT rows_landed, rows_clean FROM accounting WHERE date = ?", [day]).fetchone()
        ingested = con.execute(
            "SELECT count(*) FROM accepted_events WHERE date = ? AND event_id LIKE 'srv-%'", [day]
        ).fetchone()[0]
    assert landed == producer_rows + 12
    assert ingested == 12 and clean == landed


LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"


def test_a_champion_pickled_by_the_code_before_the_relayering_still_serves(trained):
    """Registered pyfunc models are pickled by module path: a data directory written before the
    packages moved keeps its champion, for Relay's server and for ``mlflow models serve``."""
    settings, _, user, _ = trained
    wrappers = [
        p for p in settings.artifact_root.rglob("python_model.pkl") if (p.parent / "artifacts" / "bundle").exists()
    ]
    assert wrappers, "the champion's pyfunc wrapper is stored under the artifact root"
    for stored in wrappers:  # what the old code wrote, byte for byte
        stored.write_bytes((LEGACY / "ranker_python_model.pkl").read_bytes())
    registry.configure(settings)
    model = mlflow.pyfunc.load_model(f"models:/{settings.ranker_model_name}@{registry.CHAMPION}")
    bundle = model.unwrap_python_model().bundle
    features = pd.DataFrame(np.zeros((3, len(bundle.features))), columns=bundle.features)
    assert np.isfinite(model.predict(features)).all()
    with TestClient(create_app(settings, _options(), watch=False)) as client:
        body = client.get(f"/recommend/{user}", params={"k": 5}).json()
    assert body["fallback"] is None and len(body["items"]) == 5
