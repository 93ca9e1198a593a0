"""Thirty normal simulated days, weekday seasonality included, pass every check."""

from datetime import timedelta

import dagster as dg
import pytest

from core import lake
from core.settings import RelaySettings
from feature_repo.tables import FEATURE_TABLES
from quality.all_rules import RULES
from simulator.simulate import simulate
from simulator.world import WorldConfig
from tests.pipeline import materialize_days

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "world",
    [
        WorldConfig(n_users=2_000, n_items=1_000, n_days=30, seed=7),  # the demo world's scale
        WorldConfig(n_users=250, n_items=120, n_days=30, seed=3, sessions_per_user_day=1.0),  # the tests' tiny world
    ],
    ids=["demo-scale", "tiny"],
)
def test_thirty_normal_days_raise_no_alarm(tmp_path, world):
    settings = RelaySettings(home=tmp_path / "var")
    settings.ensure_dirs()
    simulate(world, settings.landing_dir, settings.world_dir, progress=False)
    last = (world.start + timedelta(days=world.n_days - 1)).isoformat()

    run = materialize_days(settings, world.start_date, last, dg.DagsterInstance.ephemeral(), raise_on_error=False)

    with lake.connect(settings) as con:
        alarms = con.execute("SELECT date, asset, check_name, description FROM checks WHERE NOT passed").fetchall()
        evaluated = con.execute("SELECT count(*) FROM checks").fetchone()[0]
        usable = con.execute("SELECT count(*) FROM partition_status WHERE usable").fetchone()[0]
    assert alarms == [], f"{len(alarms)} false alarms over {world.n_days} normal days: {alarms[:5]}"
    # the contract and every rule on events; per feature table its contract and constant features;
    # the user windows' future and totals checks
    assert evaluated == world.n_days * (1 + len(RULES) + 2 * len(FEATURE_TABLES) + 2)
    assert usable == world.n_days
    assert run.success
