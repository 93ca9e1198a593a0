"""The one Definitions object loads, and every job and schedule resolves."""

from itertools import pairwise

from orchestration.definitions import defs


def test_jobs_and_schedules_resolve():
    for name in ("daily_data", "training_cycle"):
        assert defs.resolve_job_def(name) is not None
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"daily_data_schedule", "training_cycle_schedule"}
    assert schedules["daily_data_schedule"].job_name == "daily_data"


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
