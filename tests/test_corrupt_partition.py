"""A corrupted landing partition is stopped at the boundary, named, quarantined, and blocks downstream."""

import dagster as dg
import pytest

from relay import lake
from relay.landing import read_partition, write_partition
from tests.pipeline import materialize_days, tiny_world

pytestmark = pytest.mark.slow
BAD_DAY = "2026-01-06"


def test_missing_column_is_rejected_and_nothing_downstream_materializes(settings):
    tiny_world(settings, days=3, users=40, items=30)
    original = read_partition(settings.landing_dir, BAD_DAY)
    write_partition(settings.landing_dir, BAD_DAY, original.drop(columns=["item_id"]))
    instance = dg.DagsterInstance.ephemeral()

    result = materialize_days(settings, BAD_DAY, BAD_DAY, instance, raise_on_error=False)

    assert not result.success
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.description == f"partition {BAD_DAY} rejected: missing column 'item_id'"
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized & {"user_features", "item_features", "online_features"} == set()
    for key in ("user_features", "item_features", "online_features"):
        assert instance.get_latest_materialization_event(dg.AssetKey(key)) is None

    with lake.connect(settings) as con:
        quarantined = con.execute(f"SELECT count(*) FROM quarantine WHERE date = '{BAD_DAY}'").fetchone()[0]
        accepted = con.execute(f"SELECT count(*) FROM accepted_events WHERE date = '{BAD_DAY}'").fetchone()[0]
    assert quarantined == len(original) and accepted == 0
    assert read_partition(settings.landing_dir, BAD_DAY).shape == (len(original), 8)  # landing untouched
