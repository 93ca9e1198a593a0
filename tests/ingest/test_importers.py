"""Importers: interaction logs become valid daily raw-log partitions, ties keep file order."""

import zipfile

import pandas as pd
import pytest

from core.dataset import DatasetSpan, read_dataset_span
from core.landing import landed_days, read_partition
from core.settings import get_settings
from ingest.importers.convert import interactions_to_raw_logs
from ingest.importers.movielens import INTER_SHA256, load
from ingest.importers.run import import_csv, import_movielens
from quality.records import override_for
from quality.validation import validate_partition

CATALOG = pd.DataFrame({"item_id": [10, 11, 12, 13], "category": [0, 0, 1, 1], "duration_s": 300.0})


def _interactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "item_id": [10, 11, 10],
            "ts": pd.to_datetime(["2026-03-01 10:00:00", "2026-03-01 10:00:00", "2026-03-02 09:00:00"], utc=True),
            "rating": [4.0, 2.0, 5.0],
        }
    )


def test_each_interaction_becomes_a_one_slate_session():
    converted = interactions_to_raw_logs(_interactions(), CATALOG, negatives=2, seed=1)
    assert sorted(converted.days) == ["2026-03-01", "2026-03-02"]
    first = converted.days["2026-03-01"]
    assert len(first) == 2 * (2 + 2)  # per interaction: 2 negatives, the chosen impression, the click
    clicks = first[first["event_type"] == "click"]
    assert clicks["item_id"].tolist() == [10, 11]  # equal timestamps keep file order
    assert clicks["timespent_s"].tolist() == [240.0, 120.0]  # rating x 60 s
    for session, rows in first.groupby("session_id"):
        impressions = rows[rows["event_type"] == "impression"]
        assert sorted(impressions["position"]) == [1, 2, 3], session
        chosen = rows.loc[rows["event_type"] == "click", "item_id"].item()
        assert (impressions["item_id"] == chosen).sum() == 1
        assert set(impressions.loc[impressions["item_id"] != chosen, "propensity"]) == {0.5}  # 2 of 4 items
    for day, frame in converted.days.items():
        verdict = validate_partition(frame, day)
        assert verdict.accepted and verdict.rows_clean == len(frame)


def test_csv_import_maps_ids_lands_days_and_records_the_dataset_span(settings, tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame(
        {
            "who": ["ann", "bob", "ann"],
            "what": ["x", "y", "y"],
            "when": ["2025-06-01T08:00:00", "2025-06-01T09:00:00", "2025-06-03T10:00:00"],
            "genre": ["a", "b", "b"],
        }
    ).to_csv(path, index=False)
    converted = import_csv(settings, path, "who", "what", "when", category_col="genre", negatives=1)
    assert converted.interactions == 3
    assert landed_days(settings.landing_dir) == ["2025-06-01", "2025-06-02", "2025-06-03"]
    assert read_partition(settings.landing_dir, "2025-06-02").empty  # a quiet day, accepted explicitly:
    assert override_for(settings, "2025-06-02")["given_by"] == "relay import csv:" + str(path)
    users = pd.read_csv(settings.root / "imports" / "log" / "users.csv")
    assert users.to_dict("list") == {"external_id": ["ann", "bob"], "relay_id": [1, 2]}
    assert get_settings().partitions_start == "2025-06-01"
    assert read_dataset_span(settings.root) == DatasetSpan("historical", "2025-06-01", "2025-06-03", f"csv:{path}")
    assert read_partition(settings.landing_dir, "2025-06-03")["user_id"].unique().tolist() == [1]


def test_csv_import_names_the_missing_column(settings, tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"user": [1], "item": [2]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"no column\(s\) \['time'\]"):
        import_csv(settings, path, "user", "item", "time")


def test_a_modified_movielens_file_is_refused(tmp_path):
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("recbole/dataset_example/ml-100k/ml-100k.inter", "user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(ValueError, match=f"expected {INTER_SHA256}"):
        load(wheel)


@pytest.mark.slow
def test_movielens_100k_import(settings):
    """Fetches the RecBole wheel (cached under the data directory) and lands 100,000 ratings."""
    converted = import_movielens(settings, negatives=4)
    assert converted.interactions == 100_000
    assert (converted.first_day, converted.last_day) == ("1997-09-20", "1998-04-22")
    assert sum((frame["event_type"] == "click").sum() for frame in converted.days.values()) == 100_000
    catalog = pd.read_parquet(settings.landing_dir.parent / "catalog" / "items.parquet")
    assert len(catalog) == 1682 and catalog["category"].nunique() > 10
    day = converted.first_day
    assert validate_partition(read_partition(settings.landing_dir, day), day).accepted


@pytest.mark.slow
def test_import_then_run_with_defaults_ends_with_a_served_champion(settings):
    """`relay import movielens-100k` then `relay run` with the defaults, as a new user would, on
    all 215 days: the same Dagster graph as the simulated world, the imported-log holdout, the
    three-configuration gate, and a champion that serves (fewer SASRec epochs keep it short; the
    data is whole)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from fastapi.testclient import TestClient

    from core import lake
    from core.events import most_active_user
    from serving.app import create_app
    from training import registry

    relay = str(Path(sys.executable).with_name("relay"))
    env = {**os.environ, "RELAY_HOME": str(settings.root), "COLUMNS": "200"}
    env.pop("RELAY_PARTITIONS_START", None)
    imported = subprocess.run([relay, "import", "movielens-100k"], env=env, capture_output=True, text=True, timeout=600)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert "imported 100,000 interactions" in imported.stdout
    run = subprocess.run([relay, "run", "--epochs", "2"], env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "sasrec_ranker" in run.stdout  # evaluated on the holdout like the simulated world
    registry.configure(settings)
    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    assert champion is not None, " ".join(run.stdout.split())[-3000:]
    assert champion.tags["configuration"] in ("popularity", "first_stage", "two_stage")
    with lake.connect(settings) as con:
        user = most_active_user(con)
    with TestClient(create_app(settings, watch=False)) as client:
        body = client.get(f"/recommend/{user}", params={"k": 10}).json()
    assert body["model_version"] == int(champion.version) and body["configuration"] == champion.tags["configuration"]
    assert len(body["items"]) == 10 and len({item["item_id"] for item in body["items"]}) == 10
