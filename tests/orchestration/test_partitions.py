"""Daily partitions come from the settings and the landed dataset's span, never from import time."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from core.dataset import DatasetSpan, last_partition_day, read_dataset_span, record_dataset_span
from core.landing import write_partition
from core.settings import RelaySettings, get_settings
from orchestration.definitions import build_definitions
from orchestration.partitions import daily_partitions_for, partition_days, partition_range_tags
from orchestration.runner import require_partitions
from simulator.simulate import simulate_into
from simulator.world import WorldConfig

PARTITIONED_ASSETS = ("raw_logs", "clean_events", "user_features", "item_features", "online_features", "sasrec_daily")


# -- the dataset span (plain functions) ---------------------------------------------------------
def test_span_round_trips_and_a_missing_record_is_a_live_feed(tmp_path):
    assert read_dataset_span(tmp_path) is None
    span = DatasetSpan("simulated", "2026-01-05", "2026-03-05", "simulator:seed=7")
    record_dataset_span(tmp_path, span)
    assert read_dataset_span(tmp_path) == span
    assert span.bounded and not DatasetSpan("live", "2026-01-05", None, "kafka").bounded


def test_a_record_written_before_spans_reads_as_a_live_feed(tmp_path):
    (tmp_path / "relay.json").write_text('{"partitions_start": "2025-06-01", "source": "movielens-100k"}')
    assert read_dataset_span(tmp_path) == DatasetSpan("live", "2025-06-01", None, "movielens-100k")


def test_inconsistent_spans_are_refused():
    with pytest.raises(ValueError, match="needs its last day"):
        DatasetSpan("historical", "2026-01-05", None, "dump")
    with pytest.raises(ValueError, match="has no last day"):
        DatasetSpan("live", "2026-01-05", "2026-02-01", "kafka")
    with pytest.raises(ValueError, match="before it starts"):
        DatasetSpan("simulated", "2026-02-01", "2026-01-05", "sim")
    with pytest.raises(ValueError, match="kind"):
        DatasetSpan("replayed", "2026-01-05", "2026-02-01", "sim")  # type: ignore[arg-type]


def test_last_partition_day_is_the_later_of_the_record_and_the_landing():
    span = DatasetSpan("historical", "2026-01-05", "2026-01-31", "dump")
    assert last_partition_day(span, []) == "2026-01-31"
    assert last_partition_day(span, ["2026-01-05", "2026-01-20"]) == "2026-01-31"
    assert last_partition_day(span, ["2026-01-05", "2026-02-03"]) == "2026-02-03"  # landed later: extended
    assert last_partition_day(None, ["2026-02-03"]) is None
    assert last_partition_day(DatasetSpan("live", "2026-01-05", None, "kafka"), ["2026-02-03"]) is None


def test_get_settings_starts_on_the_recorded_first_day_unless_overridden(settings, monkeypatch):
    monkeypatch.delenv("RELAY_PARTITIONS_START", raising=False)
    record_dataset_span(settings.root, DatasetSpan("historical", "2025-06-01", "2025-06-30", "dump"))
    assert get_settings().partitions_start == "2025-06-01"
    monkeypatch.setenv("RELAY_PARTITIONS_START", "2025-06-10")
    assert get_settings().partitions_start == "2025-06-10"


# -- the definitions ------------------------------------------------------------------------------
def _keys(partitions_def: dg.PartitionsDefinition | None) -> list[str]:
    assert partitions_def is not None
    return list(partitions_def.get_partition_keys())


def _all_partition_keys(defs: dg.Definitions) -> list[list[str]]:
    """The partitions of every partitioned asset, check, job and the landing sensor's view."""
    graph = defs.resolve_asset_graph()
    found = [_keys(graph.get(dg.AssetKey(key)).partitions_def) for key in PARTITIONED_ASSETS]
    found += [_keys(checks.partitions_def) for checks in defs.asset_checks or []]
    found += [_keys(defs.resolve_job_def(job).partitions_def) for job in ("daily_data", "continuous_training")]
    return found


def _world(days: int) -> WorldConfig:
    return WorldConfig(n_users=20, n_items=20, n_days=days, seed=1, start_date="2026-02-02", sessions_per_user_day=0.2)


@pytest.fixture
def sixty_day_world(settings: RelaySettings, monkeypatch: pytest.MonkeyPatch) -> RelaySettings:
    """A 60-day simulated world landed by the simulator (starting later than the default first
    day), and the settings as the CLI reads them from that data directory."""
    monkeypatch.delenv("RELAY_PARTITIONS_START", raising=False)
    simulate_into(settings, _world(60), progress=False)
    return get_settings()


def test_a_sixty_day_simulated_home_has_exactly_sixty_partitions(sixty_day_world):
    settings = sixty_day_world
    assert settings.partitions_start == "2026-02-02"
    defs = build_definitions(settings)
    expected = [(date(2026, 2, 2) + timedelta(days=i)).isoformat() for i in range(60)]
    for keys in _all_partition_keys(defs):
        assert keys == expected
    assert defs.resolve_job_def("training_cycle").partitions_def is None
    schedule = defs.resolve_schedule_def("daily_data_schedule")
    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(), scheduled_execution_time=datetime(2026, 3, 1, 1, tzinfo=UTC)
    )
    assert [r.partition_key for r in schedule.evaluate_tick(context).run_requests or []] == ["2026-02-28"]


def test_landing_a_later_day_or_simulating_longer_extends_the_partitions(sixty_day_world, tiny_raw):
    settings = sixty_day_world
    write_partition(settings.landing_dir, "2026-04-05", tiny_raw)  # e.g. `relay reland` past the end
    assert _keys(daily_partitions_for(settings))[-1] == "2026-04-05"
    simulate_into(settings, _world(75), progress=False)  # `relay simulate --days 75` over the 60-day world
    assert read_dataset_span(settings.root).last_day == "2026-04-17"
    assert len(_keys(build_definitions(settings).resolve_job_def("daily_data").partitions_def)) == 75


def test_without_a_dataset_record_the_partitions_run_to_today(settings, tiny_raw):
    write_partition(settings.landing_dir, "2026-01-05", tiny_raw)
    settings = settings.model_copy(update={"partitions_start": "2026-01-05"})
    partitions_def = daily_partitions_for(settings)
    assert partitions_def.end is None
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    for keys in _all_partition_keys(build_definitions(settings)):
        assert keys[0] == "2026-01-05" and keys[-1] == yesterday


def test_two_data_directories_get_their_own_partitions(tmp_path):
    early = RelaySettings(home=tmp_path / "early", partitions_start="2025-01-01")
    late = RelaySettings(home=tmp_path / "late", partitions_start="2025-06-01")
    record_dataset_span(early.root, DatasetSpan("historical", "2025-01-01", "2025-01-10", "dump"))
    record_dataset_span(late.root, DatasetSpan("historical", "2025-06-01", "2025-06-03", "dump"))
    assert len(_keys(build_definitions(early).resolve_job_def("daily_data").partitions_def)) == 10
    assert len(_keys(build_definitions(late).resolve_job_def("daily_data").partitions_def)) == 3


def test_the_landing_sensor_skips_days_outside_the_partitions(sixty_day_world, tiny_raw):
    settings = sixty_day_world
    sensor = build_definitions(settings).resolve_sensor_def("landing_sensor")
    write_partition(settings.landing_dir, "2026-04-10", tiny_raw)  # landed after the definitions were built
    result = sensor(dg.build_sensor_context(cursor=None))
    assert len(result.run_requests) == 60 and "2026-04-10" not in result.cursor  # picked up after a reload


# -- runs over a range (public API only) -------------------------------------------------------
def test_range_tags_make_one_run_cover_the_days_and_partition_days_reads_them():
    partitions_def = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01", timezone="UTC")
    seen: list[list[str]] = []

    @dg.asset(partitions_def=partitions_def)
    def days(context: dg.AssetExecutionContext) -> None:
        seen.append(partition_days(context))

    result = dg.materialize([days], tags=partition_range_tags("2026-01-03", "2026-01-06"))
    assert result.success
    assert seen == [["2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06"]]


def test_a_range_outside_the_partitions_is_refused_before_running(sixty_day_world):
    job = build_definitions(sixty_day_world).resolve_job_def("daily_data")
    require_partitions(job, "2026-02-02", "2026-04-02")
    with pytest.raises(ValueError, match=r"2026-02-02\.\.2026-04-02"):
        require_partitions(job, "2026-02-02", "2026-04-03")
    with pytest.raises(ValueError, match="not all partitions"):
        require_partitions(job, "2026-03-01", "2026-02-10")
