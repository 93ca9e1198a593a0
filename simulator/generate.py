"""Vectorised generation of one day of raw logs from a world and its logging policy.

A session shows a slate drawn by a Plackett-Luce logging policy (Gumbel top-k), so the
propensity of each shown item at its position is known exactly. Clicks follow a
position-biased model of the click appeal (true utility plus clickbait's pull); timespent
grows with satisfaction, so clickbait wins clicks but little time. Items not yet released
(``WorldConfig.new_items_per_day``) are never shown. Users carry engagement
from day to day (``simulator.state``), so a day is generated from the state it starts in.
The arrival, response and state-update pieces here are shared with ``simulator.environment``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from core.schema import RAW_LOG_COLUMNS, empty_raw_logs
from simulator.state import UserState, advance, session_value
from simulator.world import (
    World,
    click_probability,
    draw_timespent_s,
    expected_sessions,
    logging_policy_slates,
    logging_reference,
    plackett_luce_propensities,
    softmax_rows,
)

__all__ = [
    "HOURLY_WEIGHTS",
    "SECONDS_PER_DAY",
    "day_date",
    "draw_arrivals",
    "draw_response",
    "generate_day",
    "generate_day_with_state",
    "next_state",
    "plackett_luce_propensities",
    "raw_log_frame",
    "session_signal",
    "softmax_rows",
]

SECONDS_PER_DAY = 86_400
CLICK_DELAY_S = (2.0, 30.0)
# Relative session rate per hour of day (UTC): quiet nights, evening peak.
HOURLY_WEIGHTS = np.array(
    [
        0.3,
        0.2,
        0.15,
        0.1,
        0.1,
        0.15,
        0.3,
        0.6,
        0.8,
        0.9,
        0.9,
        1.0,
        1.1,
        1.0,
        0.9,
        0.9,
        1.0,
        1.2,
        1.5,
        1.8,
        1.9,
        1.6,
        1.0,
        0.6,
    ]
)


def day_date(world: World, day_index: int) -> date:
    return world.config.start + timedelta(days=day_index)


def draw_arrivals(
    world: World, day_index: int, engagement: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Who starts a session on a day and when: (0-based users (S,), start second of day (S,)).

    A Poisson total split by activity x engagement is the same as one Poisson count per user
    with rate sessions_per_user_day x weekday x activity x engagement.
    """
    config = world.config
    rates = expected_sessions(world, day_index, engagement)
    total = float(rates.sum())
    n_sessions = int(rng.poisson(total))
    users = rng.choice(config.n_users, size=n_sessions, p=rates / total) if n_sessions else np.zeros(0, np.int64)
    hours = rng.choice(24, size=n_sessions, p=HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum())
    start_s = hours * 3600 + rng.uniform(0, 3600 - 120, size=n_sessions)
    return users, start_s


def draw_response(
    world: World, rng: np.random.Generator, items: np.ndarray, appeal: np.ndarray, satisfaction: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Position-biased clicks on (S, k) shown items and the timespent each click would have."""
    clicked = rng.uniform(size=appeal.shape) < click_probability(world.config, appeal)
    return clicked, draw_timespent_s(rng, world.item_duration_s[items], satisfaction)


def session_signal(
    world: World,
    day_index: int,
    users: np.ndarray,
    clicked: np.ndarray,
    satisfaction: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Realized value of each session (S,) relative to what the logging policy would give its user."""
    value = session_value(clicked, satisfaction, world.config.engagement_miss_penalty)
    return value - logging_reference(world, day_index, users, rng)


def next_state(world: World, state: UserState, users: np.ndarray, signal: np.ndarray) -> UserState:
    """The state after a day in which ``users`` (S,) had sessions with these signals (S,)."""
    config = world.config
    sessions = np.bincount(users, minlength=config.n_users)
    total = np.bincount(users, weights=signal, minlength=config.n_users)
    return advance(
        state,
        (sessions > 0).astype(np.float64),
        total / np.maximum(sessions, 1),
        memory=config.engagement_memory,
        sensitivity=config.engagement_sensitivity,
        low=config.engagement_min,
        high=config.engagement_max,
    )


def raw_log_frame(
    day: date,
    users: np.ndarray,
    slates: np.ndarray,
    propensity: np.ndarray,
    clicked: np.ndarray,
    timespent: np.ndarray,
    start_s: np.ndarray,
    click_delay_s: np.ndarray,
    session_ids: np.ndarray,
    event_prefixes: np.ndarray,
) -> pd.DataFrame:
    """One day's raw logs (``RAW_LOG_COLUMNS``, sorted by time) from per-session arrays.

    ``slates`` (S, k) hold 0-based items with -1 after the last shown one; ``click_delay_s`` has
    one delay per click in row-major order of ``clicked``; ``session_ids`` and
    ``event_prefixes`` are (S,) strings.
    """
    n_sessions, k = slates.shape
    shown = (slates >= 0).ravel()
    clicks = clicked.ravel()[shown]
    positions = np.tile(np.arange(1, k + 1), n_sessions)[shown]
    session_index = np.repeat(np.arange(n_sessions), k)[shown]
    impression_ts = start_s[session_index] + (positions - 1) * 1.0
    items = slates.ravel()[shown]
    frame = pd.DataFrame(
        {
            "offset_s": np.concatenate([impression_ts, impression_ts[clicks] + click_delay_s]),
            "session": np.concatenate([session_index, session_index[clicks]]),
            "item_id": np.concatenate([items, items[clicks]]) + 1,
            "event_type": np.concatenate([np.full(items.size, "impression"), np.full(int(clicks.sum()), "click")]),
            "position": np.concatenate([positions, positions[clicks]]),
            "propensity": np.concatenate([propensity.ravel()[shown], propensity.ravel()[shown][clicks]]),
            "timespent_s": np.concatenate([np.zeros(items.size), np.round(timespent.ravel()[shown][clicks], 1)]),
        }
    )
    frame = frame.sort_values(["offset_s", "event_type"], kind="stable").reset_index(drop=True)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    offset = np.minimum(frame["offset_s"].to_numpy(), SECONDS_PER_DAY - 1e-3)
    session = frame["session"].to_numpy()
    stamp = day.strftime("%Y%m%d")
    return pd.DataFrame(
        {
            "event_id": [f"{prefix}{stamp}-{i:07d}" for i, prefix in enumerate(event_prefixes[session])],
            "ts": pd.Timestamp(midnight) + pd.to_timedelta(np.round(offset * 1e6).astype("int64"), unit="us"),
            "user_id": (users[session] + 1).astype("int64"),
            "item_id": frame["item_id"].astype("int64"),
            "event_type": frame["event_type"].astype(str),
            "position": frame["position"].astype("int64"),
            "propensity": frame["propensity"].astype("float64"),
            "timespent_s": frame["timespent_s"].astype("float64"),
            "session_id": session_ids[session],
        }
    )[RAW_LOG_COLUMNS]


def generate_day_with_state(
    world: World, day_index: int, state: UserState | None = None
) -> tuple[pd.DataFrame, UserState]:
    """Raw logs of one day under the logging policy, and the users' state for the next day.

    ``state`` None means everyone at rest (engagement 1). Same (seed, day, state), same logs.
    """
    config = world.config
    state = UserState.initial(config.n_users) if state is None else state
    rng = np.random.default_rng([config.seed, day_index])
    day = day_date(world, day_index)
    users, start_s = draw_arrivals(world, day_index, state.engagement, rng)
    if users.size == 0:
        return empty_raw_logs(), next_state(world, state, users, np.zeros(0))

    utility = world.true_utility(day_index, users)
    slates, propensity = logging_policy_slates(config, utility, rng, world.released(day_index))
    appeal, satisfaction = world.appeal_and_satisfaction(np.take_along_axis(utility, slates, axis=1), slates)
    clicked, timespent = draw_response(world, rng, slates, appeal, satisfaction)
    click_delay = rng.uniform(*CLICK_DELAY_S, size=int(clicked.sum()))

    stamp = day.strftime("%Y%m%d")
    session_ids = np.array([f"{stamp}-s{j:06d}" for j in range(users.size)], dtype=object)
    frame = raw_log_frame(
        day,
        users,
        slates,
        propensity,
        clicked,
        timespent,
        start_s,
        click_delay,
        session_ids,
        np.full(users.size, "", dtype=object),
    )
    signal = session_signal(world, day_index, users, clicked, satisfaction, rng)
    return frame, next_state(world, state, users, signal)


def generate_day(world: World, day_index: int, state: UserState | None = None) -> pd.DataFrame:
    """Raw logs of one day as a frame with ``RAW_LOG_COLUMNS``, sorted by time."""
    return generate_day_with_state(world, day_index, state)[0]
