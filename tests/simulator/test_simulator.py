"""The synthetic world: determinism, schema, exact propensities, seasonality."""

import numpy as np
import pandas as pd
import pytest

from core.dataset import DatasetSpan, read_dataset_span
from core.schema import RAW_LOG_COLUMNS
from simulator.generate import generate_day, plackett_luce_propensities
from simulator.simulate import simulate, simulate_into
from simulator.world import World, WorldConfig, build_world


def test_plackett_luce_propensities_by_hand():
    probabilities = np.array([[0.5, 0.3, 0.2]])
    slates = np.array([[0, 2, 1]])
    # 0.5; then 0.2 / (1 - 0.5); then 0.3 / (1 - 0.5 - 0.2) = 1
    np.testing.assert_allclose(plackett_luce_propensities(probabilities, slates), [[0.5, 0.4, 1.0]])


def test_same_seed_same_world_and_logs():
    config = WorldConfig(n_users=50, n_items=40, n_days=3, seed=11)
    a, b = build_world(config), build_world(config)
    np.testing.assert_array_equal(a.item_vectors, b.item_vectors)
    pd.testing.assert_frame_equal(generate_day(a, 1), generate_day(b, 1))
    other = build_world(WorldConfig(n_users=50, n_items=40, n_days=3, seed=12))
    assert not np.array_equal(a.item_vectors, other.item_vectors)


def test_day_schema_and_invariants():
    world = build_world(WorldConfig(n_users=80, n_items=60, n_days=2, seed=5))
    day = generate_day(world, 0)
    assert list(day.columns) == RAW_LOG_COLUMNS
    assert str(day["ts"].dtype) == "datetime64[ns, UTC]"
    assert day["ts"].is_monotonic_increasing
    assert day["ts"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2026-01-05"]
    assert day["event_id"].is_unique
    assert set(day["event_type"]) == {"impression", "click"}
    assert day["propensity"].between(0, 1, inclusive="right").all()
    clicks = day[day["event_type"] == "click"]
    assert (clicks["timespent_s"] > 0).all() and (day.loc[day["event_type"] == "impression", "timespent_s"] == 0).all()
    # Every click was shown in the same session.
    impressions = day[day["event_type"] == "impression"]
    shown = set(zip(impressions["session_id"], impressions["item_id"], strict=True))
    assert set(zip(clicks["session_id"], clicks["item_id"], strict=True)) <= shown


def test_weekend_sessions_outnumber_weekdays():
    world = build_world(WorldConfig(n_users=3000, n_items=50, n_days=7, seed=1))
    sessions = [generate_day(world, d)["session_id"].nunique() for d in range(7)]  # Monday first
    assert min(sessions[5], sessions[6]) > max(sessions[1], sessions[2])


def test_true_utility_rewards_quality():
    world = build_world(WorldConfig(n_users=10, n_items=30, n_days=2, seed=2))
    utility = world.true_utility(0)
    assert utility.shape == (10, 30)
    boosted = World(**{**world.__dict__, "item_quality": world.item_quality + 1.0})
    np.testing.assert_allclose(boosted.true_utility(0) - utility, world.config.quality_weight, rtol=1e-5)


def test_simulate_lands_one_file_per_day_and_saves_the_world(tmp_path):
    config = WorldConfig(n_users=30, n_items=20, n_days=4)
    summary = simulate(config, tmp_path / "landing", tmp_path / "world", progress=False)
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == [f"2026-01-0{d}.parquet" for d in range(5, 9)]
    assert summary.events == summary.impressions + summary.clicks
    reloaded = World.load(tmp_path / "world")
    np.testing.assert_array_equal(reloaded.user_base_taste, build_world(reloaded.config).user_base_taste)


def test_simulate_into_records_the_world_span_and_a_longer_run_moves_its_end(settings):
    simulate_into(settings, WorldConfig(n_users=20, n_items=20, n_days=3, seed=2), progress=False)
    assert read_dataset_span(settings.root) == DatasetSpan("simulated", "2026-01-05", "2026-01-07", "simulator:seed=2")
    simulate_into(settings, WorldConfig(n_users=20, n_items=20, n_days=5, seed=2), progress=False)
    assert read_dataset_span(settings.root).last_day == "2026-01-09"


def test_bad_world_config_is_refused():
    with pytest.raises(ValueError, match="slate_size"):
        WorldConfig(n_items=5, slate_size=10)
