"""The online_record asset and its WARN check through Dagster, on served days written by the real
impression log in a temporary data directory."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from core import atomic
from core.landing import served_day_dir
from core.schema import RAW_LOG_COLUMNS
from core.settings import RelaySettings
from orchestration.assets.online_record import CHECK, build_online_record_check, online_record
from orchestration.definitions import defs
from orchestration.partitions import daily_partitions
from orchestration.resources import build_resources
from serving.feedback import ImpressionLog
from tests.pipeline import QUIET


def serve(settings: RelaySettings, day: str, version: int, dwell: dict[int, list[float]]) -> None:
    """Serve each user in ``dwell`` a slate of version ``version``; they click one item per dwell time."""
    log = ImpressionLog(settings.served_dir)
    at = pd.Timestamp(f"{day} 10:00", tz="UTC")
    clicks = []
    for user, times in dwell.items():
        request = f"{day}-{user}"
        items = [100 + i for i in range(max(len(times), 1) + 1)]
        log.record(request, user, items, [1.0 / len(items)] * len(items), at, model_version=version)
        for position, seconds in enumerate(times, start=1):
            when, item, propensity = at + pd.Timedelta(seconds=5 * position), items[position - 1], 1.0 / len(items)
            session = f"srv-v{version}-{request}"
            row = (f"out-{session}-{position}", when, user, item, "click", position, propensity, seconds, session)
            clicks.append(row)
    log.flush()
    if clicks:
        frame = pd.DataFrame(clicks, columns=RAW_LOG_COLUMNS)
        atomic.write_parquet(frame, served_day_dir(settings.served_dir, day) / f"outcomes-v{version}.parquet")


def materialize(settings: RelaySettings, day: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [online_record, build_online_record_check(daily_partitions)],
        resources=build_resources(settings),
        instance=instance,
        partition_key=day,
        run_config=QUIET,
    )


def test_the_record_and_its_warning_through_dagster(settings):
    serve(settings, "2026-01-05", 1, {1: [30.0], 2: [30.0]})
    serve(settings, "2026-01-06", 1, {1: [10.0, 10.0], 2: [10.0, 10.0]})  # more clicks, less time
    serve(settings, "2026-01-06", 2, {3: [40.0]})
    instance = dg.DagsterInstance.ephemeral()

    first = materialize(settings, "2026-01-05", instance)
    (materialization,) = first.asset_materializations_for_node("online_record")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["v1/clicks_per_user"] == 1.0 and metadata["v1/timespent_per_user"] == 30.0
    assert metadata["v1/next_day_return_rate"] == 1.0  # both users were served again on the 6th
    assert metadata["versions"] == "v1" and metadata["next_day"] == "landed"
    assert [r.data["version"] for r in metadata["record"].records] == [1]
    assert "data:image/png;base64," in metadata["history"]
    (quiet,) = first.get_asset_check_evaluations()
    assert quiet.passed and quiet.check_name == CHECK

    second = materialize(settings, "2026-01-06", instance)
    assert second.success  # a warning blocks nothing
    (materialization,) = second.asset_materializations_for_node("online_record")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["versions"] == "v1, v2" and metadata["next_day"].startswith("not landed")
    assert (metadata["v1/clicks_per_user"], metadata["v1/timespent_per_user"]) == (2.0, 20.0)
    assert metadata["v2/ctr"] == 0.5 and "v2/next_day_return_rate" not in metadata
    (warning,) = second.get_asset_check_evaluations()
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.description.startswith("v1: clicks_per_user 1 -> 2 but timespent_per_user 30 -> 20")
    assert warning.metadata["diverging"].value == "v1"


def test_the_asset_its_check_and_its_job_are_registered():
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey("online_record")
    assert graph.get(key).group_name == "online" and graph.get(key).partitions_def is not None
    assert dg.AssetKey("raw_logs") in graph.get(key).parent_keys
    (check,) = [c for c in defs.asset_checks or [] if dg.AssetCheckKey(key, CHECK) in c.check_keys]
    assert not check.get_spec_for_check_key(dg.AssetCheckKey(key, CHECK)).blocking
    assert defs.resolve_job_def("daily_online_record").partitions_def is not None
