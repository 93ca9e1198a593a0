"""The one Definitions object loads, and every job and schedule resolves."""

from itertools import pairwise

import dagster as dg

from orchestration.definitions import build_definitions, defs


def test_jobs_and_schedules_resolve():
    for name in ("daily_data", "training_cycle", "continuous_training"):
        assert defs.resolve_job_def(name) is not None
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"daily_data_schedule", "training_cycle_schedule", "continuous_training_schedule"}
    assert defs.resolve_schedule_def("daily_data_schedule").job_name == "daily_data"
    assert defs.resolve_sensor_def("landing_sensor").job_name == "daily_data"


def test_lineage_runs_from_raw_logs_to_champion():
    graph = defs.resolve_asset_graph()
    upstream = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()
    }
    chain = [
        "champion",
        "holdout_evaluation",
        "ranker_model",
        "ranker_training_set",
        "sasrec_embeddings",
        "sasrec_model",
        "training_window",
        "online_features",
        "user_features",
        "clean_events",
        "raw_logs",
    ]
    for child, parent in pairwise(chain):
        assert parent in upstream[child], f"{parent} should feed {child}"


def test_landing_sensor_requests_one_run_per_new_or_changed_file(settings, tiny_raw):
    import os

    from core.landing import partition_path, write_partition

    for day in ("2026-01-05", "2026-01-06"):
        write_partition(settings.landing_dir, day, tiny_raw)
    landing_sensor = build_definitions(settings).resolve_sensor_def("landing_sensor")
    first = landing_sensor(dg.build_sensor_context(cursor=None))
    assert [r.partition_key for r in first.run_requests] == ["2026-01-05", "2026-01-06"]
    unchanged = landing_sensor(dg.build_sensor_context(cursor=first.cursor))
    assert unchanged.run_requests == []
    path = partition_path(settings.landing_dir, "2026-01-06")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))  # a repaired file lands again
    repaired = landing_sensor(dg.build_sensor_context(cursor=first.cursor))
    assert [r.partition_key for r in repaired.run_requests] == ["2026-01-06"]


def test_names_are_unchanged():
    """Runs, schedules and the UI refer to these names: rebinding the partitions keeps them."""
    assets = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"raw_logs", "clean_events", "item_catalog", "feature_registry", "online_features", "champion"} <= assets
    checks = {key.name for c in defs.asset_checks or [] for key in c.check_keys}
    assert {"check_contract", "check_user_features_contract", "check_duplicate_rate"} <= checks
    assert {s.name for s in defs.sensors or []} == {"landing_sensor", "online_store_sensor"}
