"""The world as an online environment: it answers any policy, and knows what each slate is worth.

``OnlineEnvironment.step`` plays one day: the users the state says arrive, each session served
by the policy under test, position-biased clicks on click appeal, timespent from satisfaction,
and the users' state for the next day. Next to the sampled logs it reports every session's
expected proxy (clicks) and goal (timespent, satisfaction) with no sampling noise.
``expected_rollout`` is a policy's noise-free ground truth over a horizon: what an A/B test
and a promotion gate are judged against. Both use ``expected_slate_outcomes``, one definition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.schema import empty_raw_logs
from simulator.generate import (
    CLICK_DELAY_S,
    day_date,
    draw_arrivals,
    draw_response,
    next_state,
    raw_log_frame,
    session_signal,
)
from simulator.state import UserState, advance
from simulator.world import (
    SlateExpectations,
    World,
    expected_sessions,
    expected_slate_outcomes,
    logging_policy_slates,
    logging_reference,
)

__all__ = [
    "SESSION_COLUMNS",
    "DayOutcome",
    "OnlineEnvironment",
    "Policy",
    "Rollout",
    "ServedSlate",
    "SlateExpectations",
    "expected_rollout",
    "expected_slate_outcomes",
    "logging_policy",
]

ROLLOUT_HOUR = 19  # the expected rollout serves each user once a day, at the evening peak (UTC)
REFERENCE_DRAWS = 4  # logging slates per user and day behind the rollout's reference value
REFERENCE_CHUNK_CELLS = 4_000_000  # users x items x draws per chunk, to bound memory
REFERENCE_STREAM = 0x2EF  # keeps the rollout's reference draws apart from the generators' streams
SESSION_COLUMNS = [
    "session_id",
    "user_id",
    "ts",
    "n_shown",
    "expected_clicks",
    "expected_timespent_s",
    "expected_satisfaction",
]


@dataclass(frozen=True)
class ServedSlate:
    """What a policy served to one request: items in display order and their logged propensities."""

    item_ids: np.ndarray  # (n,) int64 1-based item ids, n <= slate size
    propensities: np.ndarray  # (n,) float64, per position, as the policy logged them
    tag: str = ""  # prefixes the session id, e.g. "srv-v3", so logs say which model served

    def __post_init__(self) -> None:
        item_ids = np.asarray(self.item_ids, dtype=np.int64).reshape(-1)
        propensities = np.asarray(self.propensities, dtype=np.float64).reshape(-1)
        if item_ids.shape != propensities.shape:
            raise ValueError(f"ServedSlate has {item_ids.size} items but {propensities.size} propensities")
        object.__setattr__(self, "item_ids", item_ids)
        object.__setattr__(self, "propensities", propensities)


Policy = Callable[[int, pd.Timestamp], ServedSlate]  # (1-based user id, request time) -> slate


@dataclass(frozen=True)
class DayOutcome:
    """One simulated day under a policy: sampled logs, per-session expectations, the next state."""

    logs: pd.DataFrame  # RAW_LOG_COLUMNS, as ``generate_day`` writes them
    sessions: pd.DataFrame  # SESSION_COLUMNS, one row per session in time order
    state: UserState  # the users' state at the start of the next day


@dataclass(frozen=True)
class Rollout:
    """A policy's noise-free outcomes over a horizon, per user (summed over days) and per day."""

    user_ids: np.ndarray  # (n,) 1-based
    day_indices: np.ndarray  # (D,)
    sessions: np.ndarray  # (n,) expected sessions
    clicks: np.ndarray  # (n,) expected clicks: the proxy
    timespent_s: np.ndarray  # (n,) expected timespent: the true goal (retention included via sessions)
    satisfaction: np.ndarray  # (n,) expected satisfaction consumed
    engagement: np.ndarray  # (n,) engagement after the last day
    daily_sessions: np.ndarray  # (D,) totals over the users
    daily_clicks: np.ndarray
    daily_timespent_s: np.ndarray
    daily_satisfaction: np.ndarray

    @property
    def sessions_per_user(self) -> float:
        return float(self.sessions.mean())

    @property
    def proxy(self) -> float:
        """Expected clicks per user over the horizon: what a click-optimising test would see."""
        return float(self.clicks.mean())

    @property
    def goal(self) -> float:
        """Expected timespent per user over the horizon: the true goal."""
        return float(self.timespent_s.mean())

    @property
    def satisfaction_per_user(self) -> float:
        return float(self.satisfaction.mean())


def _midnight(world: World, day_index: int) -> pd.Timestamp:
    day = day_date(world, day_index)
    return pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _empty_sessions() -> pd.DataFrame:
    """No sessions, with the dtypes a day with sessions has, so days concatenate cleanly."""
    return pd.DataFrame(
        {
            "session_id": pd.Series(dtype=str),
            "user_id": pd.Series(dtype="int64"),
            "ts": pd.Series(dtype="datetime64[ns, UTC]"),
            "n_shown": pd.Series(dtype="int64"),
            "expected_clicks": pd.Series(dtype="float64"),
            "expected_timespent_s": pd.Series(dtype="float64"),
            "expected_satisfaction": pd.Series(dtype="float64"),
        }
    )


def _serve(
    world: World, policy: Policy, users: np.ndarray, times: Sequence[pd.Timestamp]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ask the policy once per request: (slates (S, k) 0-based with -1 padding, propensities, tags)."""
    config = world.config
    slates = np.full((len(users), config.slate_size), -1, dtype=np.int64)
    propensities = np.zeros(slates.shape)
    tags: list[str] = []
    for row, (user, ts) in enumerate(zip(users.tolist(), times, strict=True)):
        served = policy(user + 1, ts)
        n = served.item_ids.size
        if n > config.slate_size:
            raise ValueError(f"policy served {n} items to user {user + 1}; the slate size is {config.slate_size}")
        if n and (served.item_ids.min() < 1 or served.item_ids.max() > config.n_items):
            raise ValueError(f"policy served an item id outside 1..{config.n_items} to user {user + 1}")
        if np.unique(served.item_ids).size != n:
            raise ValueError(f"policy served the same item twice to user {user + 1}")
        slates[row, :n] = served.item_ids - 1
        propensities[row, :n] = served.propensities
        tags.append(served.tag)
    return slates, propensities, tags


class OnlineEnvironment:
    """The world answering a policy day by day, carrying the users' state between days."""

    def __init__(self, world: World, state: UserState, seed: int) -> None:
        if state.n_users != world.config.n_users:
            raise ValueError(f"state has {state.n_users} users, the world {world.config.n_users}")
        self.world = world
        self.seed = seed
        self._state = state

    @property
    def state(self) -> UserState:
        return self._state

    def step(self, day_index: int, policy: Policy) -> DayOutcome:
        """Play one day under ``policy`` and move the state on. Same (seed, day, state, policy), same day.

        Random draws have fixed shapes whatever the policy serves, so two policies stepped from
        the same state with the same seed meet the same arrivals and the same click dice.
        """
        world = self.world
        rng = np.random.default_rng([self.seed, day_index])
        users, start_s = draw_arrivals(world, day_index, self._state.engagement, rng)
        order = np.argsort(start_s, kind="stable")
        users, start_s = users[order], start_s[order]
        offsets = pd.to_timedelta(np.round(start_s * 1e6).astype("int64"), unit="us")
        times = list(_midnight(world, day_index) + offsets)
        slates, propensities, tags = _serve(world, policy, users, times)

        shown = slates >= 0
        items = np.where(shown, slates, 0)
        appeal, satisfaction = world.slate_values(day_index, users, items)
        clicked, timespent = draw_response(world, rng, items, appeal, satisfaction)
        clicked &= shown
        click_delay = rng.uniform(*CLICK_DELAY_S, size=clicked.shape)
        state = next_state(
            world, self._state, users, session_signal(world, day_index, users, clicked, satisfaction, rng)
        )
        self._state = state

        if users.size == 0:
            return DayOutcome(empty_raw_logs(), _empty_sessions(), state)
        stamp = day_date(world, day_index).strftime("%Y%m%d")
        prefixes = np.array([f"{tag}-" if tag else "" for tag in tags], dtype=object)
        session_ids = np.array([f"{p}{stamp}-s{j:06d}" for j, p in enumerate(prefixes)], dtype=object)
        logs = raw_log_frame(
            day_date(world, day_index),
            users,
            slates,
            propensities,
            clicked,
            timespent,
            start_s,
            click_delay[clicked],
            session_ids,
            prefixes,
        )
        expected = expected_slate_outcomes(world, day_index, users, slates)
        sessions = pd.DataFrame(
            {
                "session_id": session_ids.astype(str),
                "user_id": (users + 1).astype(np.int64),
                "ts": pd.DatetimeIndex(times),
                "n_shown": expected.n_shown.astype(np.int64),
                "expected_clicks": expected.clicks,
                "expected_timespent_s": expected.timespent_s,
                "expected_satisfaction": expected.satisfaction,
            }
        )[SESSION_COLUMNS]
        return DayOutcome(logs, sessions, state)


def expected_rollout(
    world: World,
    state: UserState,
    policy: Policy,
    day_indices: Sequence[int],
    users: np.ndarray | None = None,
) -> Rollout:
    """A policy's ground truth over ``day_indices``, with no sampling noise.

    Each day every user (or the 1-based ``users``) is served one slate at 19:00 UTC, weighted by
    their expected sessions that day (rate x weekday x activity x engagement). Engagement then
    moves deterministically: by the slate's expected session value relative to what the logging
    policy gives that user (a fixed-stream estimate, the same for every policy), weighted by the
    probability of having had a session. So retention effects show up in later days' sessions.
    """
    config = world.config
    ids = world.user_ids if users is None else np.asarray(users, dtype=np.int64)
    index = ids - 1
    engagement = state.engagement[index]
    days = np.asarray(list(day_indices), dtype=np.int64)
    totals = {name: np.zeros(ids.size) for name in ("sessions", "clicks", "timespent_s", "satisfaction")}
    daily = {name: np.zeros(days.size) for name in totals}
    for position, day_index in enumerate(days.tolist()):
        ts = _midnight(world, day_index) + pd.Timedelta(hours=ROLLOUT_HOUR)
        slates, _, _ = _serve(world, policy, index, [ts] * ids.size)
        expected = expected_slate_outcomes(world, day_index, index, slates)
        rate = expected_sessions(world, day_index, engagement, index)
        for name, per_session in (
            ("sessions", np.ones(ids.size)),
            ("clicks", expected.clicks),
            ("timespent_s", expected.timespent_s),
            ("satisfaction", expected.satisfaction),
        ):
            totals[name] += rate * per_session
            daily[name][position] = float((rate * per_session).sum())
        reference = _population_reference(world, day_index)[index]
        engagement = advance(
            UserState(engagement),
            -np.expm1(-rate),
            expected.value - reference,
            memory=config.engagement_memory,
            sensitivity=config.engagement_sensitivity,
            low=config.engagement_min,
            high=config.engagement_max,
        ).engagement
    return Rollout(
        user_ids=ids,
        day_indices=days,
        engagement=engagement,
        daily_sessions=daily["sessions"],
        daily_clicks=daily["clicks"],
        daily_timespent_s=daily["timespent_s"],
        daily_satisfaction=daily["satisfaction"],
        **totals,
    )


def _population_reference(world: World, day_index: int) -> np.ndarray:
    """Every user's logging-policy value on a day, from one fixed stream, in chunks of users.

    Drawn for the whole population whatever users a rollout asks about, so a user's ground
    truth does not depend on who else is in the sample, and it is the same for every policy.
    """
    config = world.config
    rng = np.random.default_rng([config.seed, day_index, REFERENCE_STREAM])
    users = np.arange(config.n_users)
    chunk = max(1, REFERENCE_CHUNK_CELLS // (config.n_items * REFERENCE_DRAWS))
    return np.concatenate(
        [
            logging_reference(world, day_index, users[start : start + chunk], rng, draws=REFERENCE_DRAWS)
            for start in range(0, config.n_users, chunk)
        ]
    )


def logging_policy(world: World, seed: int, tag: str = "") -> Policy:
    """The world's own logging policy as a ``Policy``: an A/A arm, and a reference for benchmarks.

    Like the logs it stands in for, it never serves an item before its release day.
    """
    start = _midnight(world, 0)

    def serve(user_id: int, ts: pd.Timestamp) -> ServedSlate:
        day_index = (ts - start).days
        rng = np.random.default_rng([seed, int(user_id), int(ts.value) % 2**32])
        users = np.array([user_id - 1])
        utility = world.true_utility(day_index, users)
        slates, propensities = logging_policy_slates(world.config, utility, rng, world.released(day_index))
        return ServedSlate(slates[0] + 1, propensities[0], tag)

    return serve
