"""Item cold start: items released over the horizon, never shown by the world before their day."""

import json

import numpy as np
import pandas as pd
import pytest

from core.landing import catalog_path
from simulator.environment import logging_policy
from simulator.generate import generate_day, generate_day_with_state
from simulator.simulate import simulate
from simulator.world import (
    CONFIG_FILE,
    World,
    WorldConfig,
    build_world,
    draw_logging_slates,
    logging_policy_slates,
    logging_reference,
    softmax_rows,
)

TINY = WorldConfig(n_users=10, n_items=10, n_days=4, slate_size=3, new_items_per_day=2)
BUSY = WorldConfig(n_users=200, n_items=40, n_days=5, seed=9, sessions_per_user_day=2.0, new_items_per_day=5)


def test_release_days_follow_the_config():
    world = build_world(TINY)
    # 2 x 3 release days = 6 new items: ids 5..10, two per day from day 1; ids 1..4 are there on day 0.
    np.testing.assert_array_equal(world.item_release_day, [0, 0, 0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(world.released(1), [True] * 6 + [False] * 4)
    assert world.released(-1).sum() == 4  # before the start: the initial catalogue
    assert world.released(99).all()
    np.testing.assert_array_equal(build_world(WorldConfig(n_items=10, slate_size=3)).item_release_day, np.zeros(10))


def test_catalog_by_day_lists_only_released_items():
    world = build_world(TINY)
    assert [len(world.catalog(day)) for day in range(4)] == [4, 6, 8, 10]
    assert world.catalog(1)["item_id"].tolist() == [1, 2, 3, 4, 5, 6]
    pd.testing.assert_frame_equal(world.catalog(), world.catalog(3))
    assert list(world.catalog(0).columns) == ["item_id", "category", "duration_s"]


def test_too_many_new_items_are_refused():
    with pytest.raises(ValueError, match="new_items_per_day"):
        WorldConfig(n_items=10, n_days=4, slate_size=1, new_items_per_day=4)  # 12 new items of 10
    with pytest.raises(ValueError, match="new_items_per_day"):
        WorldConfig(n_items=9, n_days=4, slate_size=1, new_items_per_day=3)  # 9 new of 9: none on day 0
    with pytest.raises(ValueError, match="slate_size"):
        WorldConfig(n_items=10, n_days=4, slate_size=2, new_items_per_day=3)  # 1 item on day 0, slates of 2
    with pytest.raises(ValueError, match="new_items_per_day"):
        WorldConfig(new_items_per_day=-1)
    assert WorldConfig(n_items=10, n_days=4, slate_size=1, new_items_per_day=3).n_new_items == 9


def test_generated_days_never_show_an_unreleased_item():
    world = build_world(BUSY)
    release = world.item_release_day
    state = None
    for day_index in range(BUSY.n_days):
        frame, state = generate_day_with_state(world, day_index, state)
        assert len(frame) > 0
        assert (release[frame["item_id"].to_numpy() - 1] <= day_index).all()
        assert frame["propensity"].between(0, 1, inclusive="right").all()
        if day_index:  # the items released today do get shown
            assert (release[frame["item_id"].to_numpy() - 1] == day_index).any()


def test_propensities_are_exact_among_released_items():
    world = build_world(BUSY)
    released = world.released(1)
    utility = world.true_utility(1, np.arange(30))
    slates, logits = draw_logging_slates(BUSY, utility, np.random.default_rng(3), released)
    _, propensity = logging_policy_slates(BUSY, utility, np.random.default_rng(3), released)
    assert np.isneginf(logits[:, ~released]).all() and np.isfinite(logits[:, released]).all()
    assert released[slates].all()
    probabilities = softmax_rows(logits)
    np.testing.assert_allclose(probabilities[:, released].sum(axis=1), 1.0)
    assert (probabilities[:, ~released] == 0).all()
    # By hand: each position's weight over the released items not shown above it.
    weights = np.where(released, np.exp(logits - logits.max(axis=1, keepdims=True)), 0.0)
    for row in range(len(slates)):
        left = weights[row].sum()
        for position, item in enumerate(slates[row]):
            assert propensity[row, position] == pytest.approx(weights[row, item] / left, rel=1e-9)
            left -= weights[row, item]
    assert ((propensity > 0) & (propensity <= 1)).all()


def test_world_side_policies_respect_release_days():
    world = build_world(BUSY)
    serve = logging_policy(world, seed=1)
    day0 = pd.Timestamp("2026-01-05 19:00", tz="UTC")
    served = np.concatenate([serve(user, day0).item_ids for user in range(1, 101)])
    assert (world.item_release_day[served - 1] == 0).all()
    value = logging_reference(world, 0, np.arange(50), np.random.default_rng(2), draws=2)
    assert np.isfinite(value).all()


def test_the_last_day_and_the_default_are_unchanged():
    # On the last day everything is released, so the logs match a world without new items exactly:
    # the release mask consumes no randomness.
    plain = WorldConfig(n_users=200, n_items=40, n_days=5, seed=9, sessions_per_user_day=2.0)
    pd.testing.assert_frame_equal(generate_day(build_world(BUSY), 4), generate_day(build_world(plain), 4))
    # Earlier days meet the same sessions at the same times, only with released items.
    early, base = generate_day(build_world(BUSY), 1), generate_day(build_world(plain), 1)
    assert early["session_id"].unique().tolist() == base["session_id"].unique().tolist()
    # The default is 0, and a small world gives the logs it gave before the field existed.
    frame = generate_day(build_world(WorldConfig(n_users=60, n_items=30, n_days=3, seed=4)), 1)
    pd.testing.assert_frame_equal(
        frame, generate_day(build_world(WorldConfig(n_users=60, n_items=30, n_days=3, seed=4, new_items_per_day=0)), 1)
    )
    assert (len(frame), int((frame["event_type"] == "click").sum()), int(frame["item_id"].sum())) == (201, 11, 3025)
    assert frame["item_id"].head(5).tolist() == [19, 5, 8, 30, 26]
    # numpy's SIMD exp/log differ in the last bits between CPUs (AVX2 vs AVX-512): 1e-7 relative.
    assert frame["propensity"].sum() == pytest.approx(25.3105952, rel=1e-7)


def test_world_saved_before_new_items_loads_with_none(tmp_path):
    world = build_world(WorldConfig(n_users=20, n_items=15, n_days=3, seed=8))
    world.save(tmp_path)
    raw = json.loads((tmp_path / CONFIG_FILE).read_text())
    del raw["new_items_per_day"]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(raw))
    old = World.load(tmp_path)
    assert old.config.new_items_per_day == 0 and old.released(0).all()
    pd.testing.assert_frame_equal(generate_day(old, 1), generate_day(world, 1))


def test_simulate_publishes_every_item_and_logs_only_released_ones(tmp_path):
    config = WorldConfig(n_users=60, n_items=20, n_days=4, seed=5, sessions_per_user_day=2.0, new_items_per_day=3)
    simulate(config, tmp_path / "landing", tmp_path / "world", progress=False)
    catalog = pd.read_parquet(catalog_path(tmp_path / "landing"))
    assert catalog["item_id"].tolist() == list(range(1, 21))
    world = World.load(tmp_path / "world")
    assert world.config.new_items_per_day == 3
    for day_index, day in enumerate(["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08"]):
        items = pd.read_parquet(tmp_path / "landing" / f"{day}.parquet")["item_id"].to_numpy()
        assert (world.item_release_day[items - 1] <= day_index).all()
