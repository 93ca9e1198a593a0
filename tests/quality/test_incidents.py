"""Every named incident is stopped at the boundary: the failing check names the column and the
partition, nothing downstream materializes (in the run or later), the champion and the online
store stay as they were, and the accounting is exact."""

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from core import lake
from core.landing import partition_path, read_partition, superseded_dir, write_partition
from core.settings import RelaySettings
from features.feast_store import open_store
from orchestration.repair import repair_day
from quality.partition_gate import blocked_partitions
from quality.records import override_for
from simulator.generate import generate_day
from simulator.incidents import INCIDENTS
from simulator.inject import inject_incident, reland_day
from simulator.world import World
from tests.pipeline import TINY_TRAINING, materialize_days, materialize_training, tiny_world
from training import registry

pytestmark = pytest.mark.slow

# incident -> (check that must fail, column its description must name; None: no single column)
EXPECTED = {
    "missing_column": ("check_contract", "item_id"),
    "renamed_column": ("check_contract", "item_id"),
    "wrong_dtype": ("check_contract", "position"),
    "strings_in_numeric": ("check_contract", "timespent_s"),
    "new_enum_value": ("check_contract", "event_type"),
    "nan_burst": ("check_contract", "propensity"),
    "constant_column": ("check_constant_columns", "position"),
    "unit_change": ("check_range_shift", "timespent_s"),
    "sentinel_values": ("check_single_value_share", "item_id"),
    "duplicated_events": ("check_duplicate_rate", "event_id"),
    "late_events": ("check_late_events", "ts"),
    "future_timestamps": ("check_future_timestamps", "ts"),
    "naive_timestamps": ("check_contract", "ts"),
    "wrong_timezone": ("check_contract", "ts"),
    "empty_partition": ("check_contract", None),
    "partial_partition": ("check_partial_partition", "ts"),
    "distribution_shift": ("check_numeric_drift", "timespent_s"),
    "swapped_ids": ("check_unknown_ids", "item_id"),
    "feature_fanout": ("check_user_features_contract", "user_id"),
    # Semantic: well-typed, in range and ordinary per column, but about the wrong entities or time.
    "stale_item_dictionary": ("check_item_popularity", "item_id"),
    "repeated_partition": ("check_repeated_partition", "event_id"),
    "reused_event_ids": ("check_reused_event_ids", "event_id"),
    "detached_clicks": ("check_orphan_clicks", "session_id"),
    "clicks_clock_skew": ("check_click_before_impression", "ts"),
    "background_timespent": ("check_overlong_timespent", "timespent_s"),
    "session_per_user": ("check_long_sessions", "session_id"),
    "positions_beyond_slate": ("check_slate_positions", "position"),
    "foreign_user_ids": ("check_active_users", "user_id"),
    "rotated_user_ids": ("check_user_activity", "user_id"),
    "crawler_traffic": ("check_user_distribution", "user_id"),
    # Feature level: valid row by row, broken as a table.
    "constant_feature": ("check_user_features_constant_features", "user_clicks_30d"),
    "feature_future_leak": ("check_user_features_window_future", "user_last_event_ts"),
    "feature_window_lag": ("check_user_features_window_totals", "user_impressions_1d"),
}
DOWNSTREAM = {"user_features", "item_features", "online_features"}
PROBE_USERS = [{"user_id": u} for u in range(1, 21)]


def test_every_incident_kind_has_an_expectation():
    assert set(EXPECTED) == set(INCIDENTS)


def _online_snapshot(settings: RelaySettings) -> dict:
    store = open_store(settings)
    return store.get_online_features(features=["user_features:user_clicks_30d"], entity_rows=PROBE_USERS).to_dict()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """18 good days through the whole pipeline (champion v1), frozen as a pristine copy."""
    root = tmp_path_factory.mktemp("incidents")
    settings = RelaySettings(home=root / "var")
    settings.ensure_dirs()
    world = tiny_world(settings)
    last = (world.start + timedelta(days=world.n_days - 1)).isoformat()
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_days(settings, world.start_date, last, instance).success
    assert materialize_training(settings, instance).success
    pristine = root / "pristine"
    shutil.copytree(settings.root, pristine)
    return settings, pristine, world


def _restore(pristine: Path, home: Path) -> None:
    """Make ``home`` equal to ``pristine`` again, rewriting files in place: MLflow keeps a pooled
    SQLite connection per tracking URI, which must keep pointing at the same file."""
    wanted = {p.relative_to(pristine) for p in pristine.rglob("*") if p.is_file()}
    for path in sorted(home.rglob("*"), reverse=True):
        relative = path.relative_to(home)
        if path.is_file() and relative not in wanted:
            path.unlink()
    for relative in wanted:
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pristine / relative, home / relative)


@pytest.fixture
def fresh(baseline):
    """The baseline state, restored in place (paths in the registries stay valid)."""
    settings, pristine, world = baseline
    _restore(pristine, settings.root)
    return settings, world


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_incident_is_stopped_at_the_boundary(fresh, kind):
    settings, world = fresh
    day = (world.start + timedelta(days=world.n_days)).isoformat()  # the next day lands with the incident
    write_partition(settings.landing_dir, day, generate_day(World.load(settings.world_dir), world.n_days))
    online_before = _online_snapshot(settings)
    instance = dg.DagsterInstance.ephemeral()

    if INCIDENTS[kind].target == "landing":
        inject_incident(settings, kind, day)
        run = materialize_days(settings, day, day, instance, raise_on_error=False)
    else:  # the stored feature table is corrupted after a good data run; its check must catch it
        assert materialize_days(settings, day, day, instance).success
        online_before = _online_snapshot(settings)
        inject_incident(settings, kind, day)
        check = dg.AssetCheckKey(dg.AssetKey(INCIDENTS[kind].target), EXPECTED[kind][0])
        selection = dg.AssetSelection.assets("online_features") | dg.AssetSelection.checks(check)
        run = materialize_days(settings, day, day, instance, raise_on_error=False, selection=selection)
    check_name, column = EXPECTED[kind]

    # 1. The failing check names the column and the partition.
    assert not run.success
    evaluations = {e.asset_check_key.name: e for e in run.get_asset_check_evaluations()}
    failing = evaluations[check_name]
    assert not failing.passed, f"{check_name} should fail on {kind}"
    assert day in failing.description
    if column is not None:
        assert column in failing.description

    # 2. Nothing downstream of the partition materialized, in this run or in a later one.
    if INCIDENTS[kind].target == "landing":
        assert not DOWNSTREAM & {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}
    # (A feature-table incident is caught by online_features itself, without its check in the run.)
    rerun = sorted(DOWNSTREAM) if INCIDENTS[kind].target == "landing" else ["online_features"]
    later = materialize_days(settings, day, day, instance, raise_on_error=False, selection=rerun)
    assert not later.success
    assert not {e.asset_key.to_user_string() for e in later.get_asset_materialization_events()} & {"online_features"}
    with lake.connect(settings) as con:
        assert con.execute("SELECT count(*) FROM accepted_events WHERE date = $d", {"d": day}).fetchone()[0] == 0 or (
            INCIDENTS[kind].target != "landing"
        )

    # 3. The champion and the online store stay as they were; training refuses the hole.
    training = materialize_training(settings, instance, raise_on_error=False)
    assert not training.success
    assert "training_window" not in {e.asset_key.to_user_string() for e in training.get_asset_materialization_events()}
    registry.configure(settings)
    assert int(registry.alias_version(settings.ranker_model_name, registry.CHAMPION).version) == 1
    assert _online_snapshot(settings) == online_before

    # 4. The accounting is exact.
    with lake.connect(settings) as con:
        row = con.execute("SELECT * FROM accounting WHERE date = $d", {"d": day}).df().iloc[0]
    landed = len(read_partition(settings.landing_dir, day)) if partition_path(settings.landing_dir, day).exists() else 0
    assert row.rows_landed == landed
    assert row.rows_landed == row.rows_clean + row.rows_quarantined + row.duplicates_dropped
    assert np.isfinite(row.rows_landed)


def _land_next_day(settings: RelaySettings, world) -> str:
    day = (world.start + timedelta(days=world.n_days)).isoformat()
    write_partition(settings.landing_dir, day, generate_day(World.load(settings.world_dir), world.n_days))
    return day


def _clean_partition(settings: RelaySettings, day: str):
    return pd.read_parquet(lake.partition_dir(lake.table_dir(settings, lake.EVENTS), day) / "part.parquet")


def test_repair_after_the_feed_is_fixed_is_idempotent_and_unblocks_training(fresh):
    settings, world = fresh
    day = _land_next_day(settings, world)
    inject_incident(settings, "missing_column", day)
    instance = dg.DagsterInstance.ephemeral()
    assert not materialize_days(settings, day, day, instance, raise_on_error=False).success
    assert blocked_partitions(settings, [day])

    reland_day(settings, day)  # the producer re-delivers; the bad file is kept, not deleted
    assert len(list(superseded_dir(settings.landing_dir).glob(f"{day}.*.parquet"))) == 2
    first = repair_day(settings, day, instance, retrain=False)
    assert first.repaired, first.blocked
    clean_once = _clean_partition(settings, day)
    second = repair_day(settings, day, instance, retrain=True, training_config=TINY_TRAINING)
    assert second.repaired
    pd.testing.assert_frame_equal(_clean_partition(settings, day), clean_once)
    assert second.decision is not None and second.decision.candidate_version == 2  # training ran again


def test_explicit_override_publishes_clean_rows_and_keeps_quarantine(fresh):
    settings, world = fresh
    day = _land_next_day(settings, world)
    inject_incident(settings, "new_enum_value", day)
    instance = dg.DagsterInstance.ephemeral()
    assert not materialize_days(settings, day, day, instance, raise_on_error=False).success
    with pytest.raises(ValueError, match="non-empty reason"):
        repair_day(settings, day, instance, accept=("", "alice"), retrain=False)

    reason = ("vendor ships add_to_cart early; drop it", "alice")
    result = repair_day(settings, day, instance, accept=reason, retrain=False)
    assert result.repaired, result.blocked
    with lake.connect(settings) as con:
        row = con.execute("SELECT * FROM partition_status WHERE date = $d", {"d": day}).df().iloc[0]
        accepted = con.execute("SELECT count(*) FROM accepted_events WHERE date = $d", {"d": day}).fetchone()[0]
        bad = con.execute("SELECT count(*) FROM accepted_events WHERE event_type = 'add_to_cart'").fetchone()[0]
    assert row.usable and row.overridden and row.reason.startswith("accepted by override of alice")
    assert accepted == row.rows_clean > 0 and bad == 0 and row.rows_quarantined > 0
    assert override_for(settings, day)["given_by"] == "alice"
