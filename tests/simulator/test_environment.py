"""The world as an online environment: exact expectations, clickbait, engagement, determinism."""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from core.schema import RAW_LOG_COLUMNS
from simulator.environment import (
    SESSION_COLUMNS,
    OnlineEnvironment,
    Policy,
    ServedSlate,
    expected_rollout,
    expected_slate_outcomes,
    logging_policy,
)
from simulator.state import UserState
from simulator.world import World, WorldConfig, build_world, expected_timespent_s


def hand_world(clickbait: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> World:
    """Two users, three items, one taste dimension: utilities are [4, 0, 2] and [-4, 0, -2]."""
    config = WorldConfig(
        n_users=2,
        n_items=3,
        n_days=2,
        n_categories=1,
        dim=1,
        slate_size=3,
        quality_weight=1.0,
        click_offset=4.0,
        position_bias_decay=float(np.log(2.0)),  # position bias 1, 1/2, 1/4
        clickbait_appeal=2.0,
        clickbait_regret=2.0,
        engagement_miss_penalty=0.5,
    )
    return World(
        config=config,
        item_category=np.zeros(3, dtype=np.int64),
        item_vectors=np.array([[4.0], [0.0], [2.0]], dtype=np.float32),
        item_quality=np.zeros(3, dtype=np.float32),
        item_duration_s=np.array([100.0, 50.0, 80.0]),
        user_base_taste=np.array([[1.0], [-1.0]], dtype=np.float32),
        user_drift=np.zeros((2, 1), dtype=np.float32),
        user_activity=np.ones(2, dtype=np.float32),
        item_clickbait=np.array(clickbait),
    )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def integrated_timespent(satisfaction: float, duration: float) -> float:
    """E[max(min(1.3 B s d, d), 0.1)], B ~ Beta(2, 2), by a fine midpoint rule (independent of the code)."""
    b = (np.arange(1_000_000) + 0.5) / 1_000_000
    scale = 0.5 + 0.5 * sigmoid(satisfaction)
    outcome = np.maximum(np.minimum(1.3 * b * scale * duration, duration), 0.1)
    return float(np.mean(outcome * 6.0 * b * (1.0 - b)))


@pytest.mark.parametrize(
    ("satisfaction", "duration"), [(-4.0, 80.0), (0.0, 50.0), (4.0, 100.0), (9.0, 7.5), (2.0, 0.12), (1.0, 0.05)]
)
def test_expected_timespent_is_the_exact_beta_integral(satisfaction, duration):
    got = expected_timespent_s(np.array([duration]), np.array([satisfaction]))[0]
    assert got == pytest.approx(integrated_timespent(satisfaction, duration), rel=1e-7)


def test_expected_slate_outcomes_by_hand():
    world = hand_world()
    # User 1 sees items 1, 3 (clickbait), 2; user 2 sees items 2, 1 and an empty third position.
    slates = np.array([[0, 2, 1], [1, 0, -1]])
    outcome = expected_slate_outcomes(world, 0, np.array([0, 1]), slates)
    # appeal: user 1 [4, 0, 2 + 2], user 2 [-4, 0, -2 + 2]; satisfaction: [4, 0, 2 - 2], [-4, 0, -4]
    p1 = np.array([1.0 * sigmoid(0.0), 0.5 * sigmoid(0.0), 0.25 * sigmoid(-4.0)])
    p2 = np.array([1.0 * sigmoid(-4.0), 0.5 * sigmoid(-8.0), 0.0])
    np.testing.assert_allclose(outcome.click_probability, [p1, p2], rtol=1e-7)
    np.testing.assert_array_equal(outcome.n_shown, [3, 2])
    np.testing.assert_allclose(outcome.clicks, [p1.sum(), p2.sum()], rtol=1e-7)
    np.testing.assert_allclose(outcome.satisfaction, [p1[0] * 4.0, p2[1] * -4.0], rtol=1e-7)
    # Satisfaction 0: 1.3 * 0.75 < 1, so the cap never binds and E = 1.3 * 0.75 * d / 2 (the 0.1 s floor is < 1e-8).
    per_click_1 = [integrated_timespent(4.0, 100.0), 0.4875 * 80.0, 0.4875 * 50.0]
    per_click_2 = [0.4875 * 50.0, 1.3 * (0.5 + 0.5 * sigmoid(-4.0)) * 100.0 / 2, 0.0]
    np.testing.assert_allclose(outcome.timespent_s, [p1 @ per_click_1, p2 @ per_click_2], rtol=1e-6)
    # Session value: satisfaction consumed minus 0.5 * P(no click).
    no_click = [np.prod(1 - p1), np.prod(1 - p2)]
    np.testing.assert_allclose(outcome.value, outcome.satisfaction - 0.5 * np.array(no_click), rtol=1e-7)


def test_clickbait_wins_clicks_and_loses_time_per_click_and_satisfaction():
    slates, users = np.array([[0, 2, 1]]), np.array([0])
    honest = expected_slate_outcomes(hand_world((0.0, 0.0, 0.0)), 0, users, slates)
    bait = expected_slate_outcomes(hand_world((0.0, 0.0, 1.0)), 0, users, slates)
    assert bait.clicks[0] > honest.clicks[0]
    assert bait.satisfaction[0] < honest.satisfaction[0]
    # A clickbait click is worth less time; the consumed share is at least half, so more clicks can
    # still add time on the same slate: the goal is lost by displacing better items (next test).
    assert bait.timespent_s[0] / bait.clicks[0] < honest.timespent_s[0] / honest.clicks[0]
    world = hand_world()
    np.testing.assert_allclose(world.click_appeal(0) - world.true_utility(0), [[0, 0, 2], [0, 0, 2]])
    np.testing.assert_allclose(world.satisfaction(0) - world.true_utility(0), [[0, 0, -2], [0, 0, -2]])


def ranked_policy(world: World, score: Callable[[World, int, int], np.ndarray], tag: str) -> Policy:
    """Serves the top-k items of ``score(world, day, user)`` with propensity 1."""

    def serve(user_id: int, ts: pd.Timestamp) -> ServedSlate:
        day_index = (ts.normalize() - pd.Timestamp(world.config.start_date, tz="UTC")).days
        top = np.argsort(-score(world, day_index, user_id - 1), kind="stable")[: world.config.slate_size]
        return ServedSlate(top + 1, np.ones(top.size), tag)

    return serve


def by_satisfaction(world: World, day: int, user: int) -> np.ndarray:
    return world.satisfaction(day, np.array([user]))[0]


def by_appeal(world: World, day: int, user: int) -> np.ndarray:
    return world.click_appeal(day, np.array([user]))[0]


def clickbait_first(world: World, day: int, user: int) -> np.ndarray:
    return by_appeal(world, day, user) + 100.0 * world.item_clickbait


TINY = WorldConfig(n_users=120, n_items=60, n_days=10, seed=4, clickbait_share=0.25, sessions_per_user_day=1.0)


def test_rollout_click_optimal_policy_wins_clicks_and_loses_users():
    world = build_world(TINY)
    state = UserState.initial(TINY.n_users)
    days = range(TINY.n_days, TINY.n_days + 8)  # after the history: taste drift is held at its end
    good = expected_rollout(world, state, ranked_policy(world, by_satisfaction, "good"), days)
    clicky = expected_rollout(world, state, ranked_policy(world, by_appeal, "clicky"), days)
    assert good.daily_sessions[0] == pytest.approx(clicky.daily_sessions[0])  # same state, same first day
    # The first day, before engagement moves: more clicks, less time per click, less satisfaction.
    assert clicky.daily_clicks[0] > good.daily_clicks[0]
    assert clicky.daily_timespent_s[0] / clicky.daily_clicks[0] < good.daily_timespent_s[0] / good.daily_clicks[0]
    assert clicky.daily_satisfaction[0] < good.daily_satisfaction[0]
    # Then the disappointed users come back less, and the gap in sessions widens every day.
    assert clicky.engagement.mean() < good.engagement.mean()
    assert np.all(np.diff(clicky.daily_sessions / good.daily_sessions) < 0)
    assert clicky.satisfaction_per_user < good.satisfaction_per_user
    assert clicky.sessions_per_user < good.sessions_per_user
    np.testing.assert_allclose(good.clicks.sum(), good.daily_clicks.sum())
    # A subset of users is the same rollout restricted to them.
    subset = expected_rollout(world, state, ranked_policy(world, by_satisfaction, "good"), days, users=np.array([3, 7]))
    np.testing.assert_array_equal(subset.user_ids, [3, 7])
    np.testing.assert_allclose(subset.timespent_s, good.timespent_s[[2, 6]], rtol=1e-9)


def test_rollout_of_clickbait_loses_users_and_the_goal():
    world = build_world(TINY)
    state = UserState.initial(TINY.n_users)
    good = expected_rollout(world, state, ranked_policy(world, by_satisfaction, "good"), range(3))
    bait = expected_rollout(world, state, ranked_policy(world, clickbait_first, "bait"), range(3))
    assert bait.engagement.max() < 1.0 < good.engagement.min()
    assert bait.daily_sessions[2] < bait.daily_sessions[0] * world.config.weekday_factors[2]
    assert bait.goal < good.goal


def test_step_is_deterministic_and_moves_the_state():
    world = build_world(TINY)
    policy = logging_policy(world, seed=1, tag="lp")
    runs = []
    for seed in (5, 5, 6):
        env = OnlineEnvironment(world, UserState.initial(TINY.n_users), seed=seed)
        runs.append((env.step(3, policy), env))
    (a, env_a), (b, _), (c, _) = runs
    pd.testing.assert_frame_equal(a.logs, b.logs)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)
    np.testing.assert_array_equal(a.state.engagement, b.state.engagement)
    assert env_a.state is a.state and not np.array_equal(a.state.engagement, np.ones(TINY.n_users))
    assert not a.logs["user_id"].equals(c.logs["user_id"])


def test_step_logs_keep_the_generated_logs_invariants():
    world = build_world(TINY)
    outcome = OnlineEnvironment(world, UserState.initial(TINY.n_users), seed=2).step(12, logging_policy(world, 3, "lp"))
    day, sessions = outcome.logs, outcome.sessions
    assert list(day.columns) == RAW_LOG_COLUMNS and list(sessions.columns) == SESSION_COLUMNS
    assert str(day["ts"].dtype) == "datetime64[ns, UTC]"
    assert day["ts"].is_monotonic_increasing and sessions["ts"].is_monotonic_increasing
    assert day["ts"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2026-01-17"]
    assert day["event_id"].is_unique and day["event_id"].str.startswith("lp-20260117-").all()
    assert set(day["event_type"]) == {"impression", "click"}
    assert day["propensity"].between(0, 1, inclusive="right").all()
    clicks, impressions = day[day["event_type"] == "click"], day[day["event_type"] == "impression"]
    assert (clicks["timespent_s"] > 0).all() and (impressions["timespent_s"] == 0).all()
    shown = set(zip(impressions["session_id"], impressions["item_id"], strict=True))
    assert set(zip(clicks["session_id"], clicks["item_id"], strict=True)) <= shown
    assert sessions["session_id"].tolist() == [f"lp-20260117-s{j:06d}" for j in range(len(sessions))]
    assert set(impressions["session_id"]) == set(sessions["session_id"])
    assert (impressions.groupby("session_id").size() == sessions.set_index("session_id")["n_shown"]).all()
    # Each session starts at the request time the policy was given.
    first = impressions.groupby("session_id")["ts"].min()
    assert (first == sessions.set_index("session_id")["ts"]).all()


def test_step_serves_short_slates_and_refuses_bad_ones():
    world = build_world(TINY)
    env = OnlineEnvironment(world, UserState.initial(TINY.n_users), seed=0)
    outcome = env.step(0, lambda user, ts: ServedSlate(np.array([user % 60 + 1, 1 + (user + 7) % 60]), [0.5, 0.25]))
    impressions = outcome.logs[outcome.logs["event_type"] == "impression"]
    assert impressions["position"].max() == 2 and set(impressions["propensity"]) == {0.5, 0.25}
    assert (outcome.sessions["n_shown"] == 2).all()
    assert not outcome.sessions["session_id"].str.startswith("-").any()
    with pytest.raises(ValueError, match="same item twice"):
        env.step(1, lambda user, ts: ServedSlate(np.array([3, 3]), np.ones(2)))
    with pytest.raises(ValueError, match="outside"):
        env.step(1, lambda user, ts: ServedSlate(np.array([61]), np.ones(1)))
    with pytest.raises(ValueError, match="propensities"):
        ServedSlate(np.array([1, 2]), np.ones(3))


def test_a_day_without_sessions_is_empty_with_the_usual_columns():
    world = build_world(WorldConfig(n_users=20, n_items=15, n_days=2, sessions_per_user_day=0.0))
    outcome = OnlineEnvironment(world, UserState.initial(20), seed=1).step(0, logging_policy(world, 1))
    assert outcome.logs.empty and list(outcome.logs.columns) == RAW_LOG_COLUMNS
    assert outcome.sessions.empty and list(outcome.sessions.columns) == SESSION_COLUMNS
    np.testing.assert_array_equal(outcome.state.engagement, np.ones(20))


def test_sampled_clicks_and_timespent_match_their_expectation():
    config = WorldConfig(n_users=300, n_items=50, n_days=5, seed=9, sessions_per_user_day=10.0, clickbait_share=0.2)
    world = build_world(config)
    env = OnlineEnvironment(world, UserState.initial(config.n_users), seed=17)
    policy = logging_policy(world, seed=2)
    days = [env.step(d, policy) for d in range(3)]
    logs = pd.concat([d.logs for d in days])
    sessions = pd.concat([d.sessions for d in days]).set_index("session_id")
    clicks = logs[logs["event_type"] == "click"].groupby("session_id")
    sampled = pd.DataFrame({"clicks": clicks.size(), "timespent": clicks["timespent_s"].sum()})
    sampled = sampled.reindex(sessions.index, fill_value=0.0)
    assert len(sessions) > 8_000  # about 8,000 clicks: a 5% tolerance is about 3 standard deviations
    # Sessions are independent given the slates: the summed error over its own spread is a z-score.
    for column, expected in (("clicks", "expected_clicks"), ("timespent", "expected_timespent_s")):
        error = sampled[column] - sessions[expected]
        assert abs(error.sum()) < 4.0 * np.sqrt((error**2).sum()), column
    # And the totals agree within 5% (fixed seeds).
    assert sampled["clicks"].sum() == pytest.approx(sessions["expected_clicks"].sum(), rel=0.05)
    assert sampled["timespent"].sum() == pytest.approx(sessions["expected_timespent_s"].sum(), rel=0.05)


def test_days_after_the_horizon_hold_the_last_taste():
    world = build_world(TINY)
    np.testing.assert_array_equal(world.user_taste(TINY.n_days + 30), world.user_taste(TINY.n_days - 1))
    assert not np.array_equal(world.user_taste(0), world.user_taste(TINY.n_days - 1))
