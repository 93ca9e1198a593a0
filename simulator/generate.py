"""Vectorised generation of one day of raw logs from a world and its logging policy.

A session shows a slate drawn by a Plackett-Luce logging policy (Gumbel top-k), so the
propensity of each shown item at its position is known exactly. Clicks follow a
position-biased model of the true utility; timespent grows with utility.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from core.schema import RAW_LOG_COLUMNS, empty_raw_logs
from simulator.world import World

SECONDS_PER_DAY = 86_400
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


def plackett_luce_propensities(probabilities: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """P(item at position j | items shown above it) under Plackett-Luce sampling.

    ``probabilities`` is (sessions, items), each row summing to 1; ``slates`` is
    (sessions, k) item indices in display order. Returns (sessions, k).
    """
    chosen = np.take_along_axis(probabilities, slates, axis=1)
    taken_before = np.cumsum(chosen, axis=1) - chosen
    remaining = np.clip(1.0 - taken_before, 1e-12, None)
    return np.clip(chosen / remaining, 1e-12, 1.0)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


def day_date(world: World, day_index: int) -> date:
    return world.config.start + timedelta(days=day_index)


def generate_day(world: World, day_index: int) -> pd.DataFrame:
    """Raw logs of one day as a frame with ``RAW_LOG_COLUMNS``, sorted by time."""
    config = world.config
    rng = np.random.default_rng([config.seed, day_index])
    day = day_date(world, day_index)

    expected = config.n_users * config.sessions_per_user_day * config.weekday_factors[day.weekday()]
    n_sessions = int(rng.poisson(expected))
    if n_sessions == 0:
        return empty_raw_logs()
    users = rng.choice(config.n_users, size=n_sessions, p=world.user_activity / world.user_activity.sum())
    hours = rng.choice(24, size=n_sessions, p=HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum())
    start_s = hours * 3600 + rng.uniform(0, 3600 - 120, size=n_sessions)

    utility = world.true_utility(day_index, users)
    logits = (utility + config.policy_noise * rng.normal(size=utility.shape)) / config.policy_temperature
    probabilities = softmax_rows(logits)
    gumbel = logits - np.log(-np.log(rng.uniform(1e-12, 1.0, size=logits.shape)))
    k = config.slate_size
    top = np.argpartition(-gumbel, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(gumbel, top, axis=1), axis=1)
    slates = np.take_along_axis(top, order, axis=1)
    propensity = plackett_luce_propensities(probabilities, slates)

    shown_utility = np.take_along_axis(utility, slates, axis=1)
    positions = np.arange(1, k + 1)
    position_bias = np.exp(-config.position_bias_decay * (positions - 1))
    click_probability = position_bias / (1.0 + np.exp(-(shown_utility - config.click_offset)))
    clicked = rng.uniform(size=click_probability.shape) < click_probability
    # People consume a share of the item that grows with utility, never more than all of it.
    duration = world.item_duration_s[slates]
    share = rng.beta(2.0, 2.0, size=shown_utility.shape) * (0.5 + 0.5 / (1.0 + np.exp(-shown_utility)))
    timespent = np.maximum(np.minimum(share * duration * 1.3, duration), 0.1)

    session_index = np.repeat(np.arange(n_sessions), k)
    impression_ts = np.repeat(start_s, k) + np.tile(positions - 1, n_sessions) * 1.0
    click_mask = clicked.ravel()
    click_delay = rng.uniform(2.0, 30.0, size=int(click_mask.sum()))

    frame = pd.DataFrame(
        {
            "offset_s": np.concatenate([impression_ts, impression_ts[click_mask] + click_delay]),
            "session": np.concatenate([session_index, session_index[click_mask]]),
            "user_id": np.concatenate([users[session_index], users[session_index][click_mask]]) + 1,
            "item_id": np.concatenate([slates.ravel(), slates.ravel()[click_mask]]) + 1,
            "event_type": np.concatenate(
                [np.full(session_index.size, "impression"), np.full(int(click_mask.sum()), "click")]
            ),
            "position": np.concatenate([np.tile(positions, n_sessions), np.tile(positions, n_sessions)[click_mask]]),
            "propensity": np.concatenate([propensity.ravel(), propensity.ravel()[click_mask]]),
            "timespent_s": np.concatenate([np.zeros(session_index.size), np.round(timespent.ravel()[click_mask], 1)]),
        }
    )
    frame = frame.sort_values(["offset_s", "event_type"], kind="stable").reset_index(drop=True)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    offset = np.minimum(frame["offset_s"].to_numpy(), SECONDS_PER_DAY - 1e-3)
    stamp = day.strftime("%Y%m%d")
    return pd.DataFrame(
        {
            "event_id": [f"{stamp}-{i:07d}" for i in range(len(frame))],
            "ts": pd.Timestamp(midnight) + pd.to_timedelta(np.round(offset * 1e6).astype("int64"), unit="us"),
            "user_id": frame["user_id"].astype("int64"),
            "item_id": frame["item_id"].astype("int64"),
            "event_type": frame["event_type"].astype(str),
            "position": frame["position"].astype("int64"),
            "propensity": frame["propensity"].astype("float64"),
            "timespent_s": frame["timespent_s"].astype("float64"),
            "session_id": [f"{stamp}-s{j:06d}" for j in frame["session"].to_numpy()],
        }
    )[RAW_LOG_COLUMNS]
