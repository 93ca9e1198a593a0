"""Under declarative automation, a partition whose blocking checks failed is never picked up."""

from datetime import date, timedelta

import dagster as dg
import pytest

from orchestration.checks import all_checks
from orchestration.definitions import all_assets, build_definitions
from orchestration.resources import build_resources
from simulator.inject import inject_incident
from simulator.simulate import simulate
from simulator.world import WorldConfig
from tests.pipeline import QUIET

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("incident", [None, "missing_column"], ids=["good-day", "bad-day"])
def test_eager_features_wait_for_passing_blocking_checks(settings, incident):
    latest = date.today() - timedelta(days=1)  # automation acts on the latest daily partition
    world = WorldConfig(
        n_users=60, n_items=40, n_days=8, start_date=(latest - timedelta(days=7)).isoformat(), sessions_per_user_day=1.0
    )
    simulate(world, settings.landing_dir, settings.world_dir, progress=False)
    if incident:
        inject_incident(settings, incident, latest.isoformat())
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    selection = dg.AssetSelection.assets("user_features")
    first_tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    ingest = [a for a in all_assets if a.key.to_user_string() in ("clean_events", "item_catalog")]
    checks = [c for c in all_checks if next(iter(c.check_keys)).asset_key.to_user_string() == "clean_events"]
    run = dg.materialize(
        [*ingest, *checks],
        resources=build_resources(settings),
        instance=instance,
        partition_key=latest.isoformat(),
        raise_on_error=False,
        run_config=QUIET,
    )
    assert run.success is (incident is None)

    tick = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=selection, cursor=first_tick.cursor
    )
    requested = tick.get_requested_partitions(dg.AssetKey("user_features"))
    assert requested == (set() if incident else {latest.isoformat()})
