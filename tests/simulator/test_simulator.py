"""The synthetic world: determinism, schema, exact propensities, seasonality, carried state."""

import numpy as np
import pandas as pd
import pytest

from core.dataset import DatasetSpan, read_dataset_span
from core.landing import read_partition
from core.schema import RAW_LOG_COLUMNS
from simulator.generate import generate_day, generate_day_with_state, plackett_luce_propensities
from simulator.simulate import load_state, simulate, simulate_into, state_for_day
from simulator.state import STATE_FILE, UserState
from simulator.world import WORLD_FILE, World, WorldConfig, build_world


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


def test_simulate_saves_the_final_state_and_each_day_reproduces_from_its_history(tmp_path):
    config = WorldConfig(n_users=40, n_items=30, n_days=4, seed=3, sessions_per_user_day=2.0)
    simulate(config, tmp_path / "landing", tmp_path / "world", progress=False)
    world, state = build_world(config), None
    for day_index in range(config.n_days):
        _, state = generate_day_with_state(world, day_index, state)
    np.testing.assert_array_equal(load_state(tmp_path / "world").engagement, state.engagement)
    assert not np.array_equal(state.engagement, np.ones(config.n_users))  # the days moved it
    # The state at the start of day 2 regenerates the landed day exactly (a clean re-delivery).
    again = generate_day(world, 2, UserState.load(tmp_path / "world", day_index=2))
    pd.testing.assert_frame_equal(read_partition(tmp_path / "landing", "2026-01-07"), again, check_dtype=False)
    np.testing.assert_array_equal(state_for_day(tmp_path / "world", config.n_days).engagement, state.engagement)
    with pytest.raises(KeyError):
        UserState.load(tmp_path / "world", day_index=config.n_days + 1)
    assert state_for_day(tmp_path / "world", config.n_days + 1) is None
    (tmp_path / "world" / STATE_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="relay simulate"):
        load_state(tmp_path / "world")
    assert state_for_day(tmp_path / "world", 2) is None


def test_world_saved_before_clickbait_loads_without_any(tmp_path):
    world = build_world(WorldConfig(n_users=30, n_items=25, n_days=3, seed=8))
    assert world.item_clickbait.sum() == round(0.08 * 25)
    world.save(tmp_path)
    arrays = dict(np.load(tmp_path / WORLD_FILE))
    del arrays["item_clickbait"]
    np.savez_compressed(tmp_path / WORLD_FILE, **arrays)
    old = World.load(tmp_path)
    np.testing.assert_array_equal(old.item_clickbait, np.zeros(25))
    np.testing.assert_array_equal(old.click_appeal(1), old.true_utility(1))
    assert len(generate_day(old, 1)) > 0


def test_engagement_scales_sessions_and_none_means_rest():
    world = build_world(WorldConfig(n_users=400, n_items=30, n_days=3, seed=6))
    rest = UserState.initial(400)
    pd.testing.assert_frame_equal(generate_day(world, 1), generate_day(world, 1, rest))
    keen = generate_day(world, 1, UserState(np.full(400, 2.0)))
    assert keen["session_id"].nunique() == pytest.approx(2 * generate_day(world, 1)["session_id"].nunique(), rel=0.15)


def test_the_logging_policy_keeps_engagement_and_volumes_stationary():
    config = WorldConfig(n_users=300, n_items=80, n_days=30, seed=12, sessions_per_user_day=1.0, clickbait_share=0.2)
    world = build_world(config)
    activity = world.user_activity.astype(float)
    state, weighted, sessions = None, [], []
    for day_index in range(config.n_days):
        frame, state = generate_day_with_state(world, day_index, state)
        weighted.append((activity * state.engagement).sum() / activity.sum())
        sessions.append(frame["session_id"].nunique() / config.weekday_factors[day_index % 7])
    assert np.mean(weighted[10:]) == pytest.approx(1.0, abs=0.03)
    assert np.mean(sessions[-10:]) == pytest.approx(np.mean(sessions[:10]), rel=0.05)
