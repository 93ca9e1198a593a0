"""A seeded synthetic world: users with drifting latent tastes, items with categories and quality.

The true utility of every (user, item) pair is known, so later analysis can compare what a
model learned with what the world actually rewards. Some items are clickbait: they attract more
clicks than their utility earns (``click_appeal``) and disappoint once consumed
(``satisfaction``), so the click proxy and the true goal disagree on them. This module also
holds the world's response model (clicks, timespent, their exact expectations) and its own
logging policy, so generation, the online environment and the calibration share one definition.

Items can arrive over the horizon (``new_items_per_day``), so models meet cold-start items: the
highest ids are released a few per day, and the world's own logging policy never shows an item
before its release day.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.state import session_value

WORLD_FILE = "world.npz"
CONFIG_FILE = "world.json"
TIMESPENT_STRETCH = 1.3  # people may consume up to 1.3x the "typical" share before the item ends
MIN_TIMESPENT_S = 0.1


@dataclass(frozen=True)
class WorldConfig:
    """Size and behaviour of the simulated world. Defaults are the demo world."""

    n_users: int = 2_000
    n_items: int = 1_000
    n_days: int = 60
    n_categories: int = 12
    dim: int = 16
    seed: int = 7
    start_date: str = "2026-01-05"  # a Monday, so weekday seasonality lines up with day index
    sessions_per_user_day: float = 0.45
    slate_size: int = 10
    weekday_factors: tuple[float, ...] = (1.0, 0.95, 0.95, 1.0, 1.1, 1.3, 1.25)
    taste_drift: float = 0.6  # how far a user's taste moves towards a new category over the horizon
    quality_weight: float = 0.8
    policy_temperature: float = 1.0
    policy_noise: float = 1.0
    click_offset: float = 4.0
    position_bias_decay: float = 0.12
    clickbait_share: float = 0.08  # share of items that are clickbait (drawn among the low-quality ones)
    clickbait_appeal: float = 1.5  # added to a clickbait item's click logit
    clickbait_regret: float = 3.0  # subtracted from the satisfaction of consuming one
    engagement_memory: float = 0.9  # share of yesterday's deviation from 1 a user keeps
    engagement_sensitivity: float = 0.03  # engagement change per unit of session value above the usual
    engagement_miss_penalty: float = 0.5  # session value lost when a session gets no click
    engagement_min: float = 0.2
    engagement_max: float = 3.0
    new_items_per_day: int = 0  # items released per day from day 1 on, taken from the highest ids of n_items

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_days", "n_categories", "dim", "slate_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"WorldConfig.{name} must be positive, got {getattr(self, name)}")
        if self.slate_size > self.n_items:
            raise ValueError(f"WorldConfig.slate_size ({self.slate_size}) exceeds n_items ({self.n_items})")
        if len(self.weekday_factors) != 7:
            raise ValueError("WorldConfig.weekday_factors needs exactly 7 values (Monday first)")
        if not 0.0 <= self.clickbait_share <= 1.0:
            raise ValueError(f"WorldConfig.clickbait_share must be in [0, 1], got {self.clickbait_share}")
        if not 0.0 <= self.engagement_memory <= 1.0:
            raise ValueError(f"WorldConfig.engagement_memory must be in [0, 1], got {self.engagement_memory}")
        if not 0.0 < self.engagement_min <= 1.0 <= self.engagement_max:
            raise ValueError("WorldConfig needs 0 < engagement_min <= 1 <= engagement_max")
        date.fromisoformat(self.start_date)
        if self.new_items_per_day < 0:
            raise ValueError(f"WorldConfig.new_items_per_day must be >= 0, got {self.new_items_per_day}")
        if self.n_new_items >= self.n_items:
            raise ValueError(
                f"WorldConfig.new_items_per_day ({self.new_items_per_day}) x {self.n_days - 1} release days"
                f" = {self.n_new_items} new items leaves none of the {self.n_items} items for day 0"
            )
        if self.n_items - self.n_new_items < self.slate_size:
            raise ValueError(
                f"WorldConfig.new_items_per_day ({self.new_items_per_day}) leaves {self.n_items - self.n_new_items}"
                f" items on day 0, fewer than slate_size ({self.slate_size})"
            )

    @property
    def start(self) -> date:
        return date.fromisoformat(self.start_date)

    @property
    def n_new_items(self) -> int:
        """Items released after day 0: ``new_items_per_day`` on each of days 1..n_days-1."""
        return self.new_items_per_day * (self.n_days - 1)


def item_release_days(config: WorldConfig) -> np.ndarray:
    """Release day of every item (0-based index -> day index), from the config alone (no RNG).

    The last ``n_new_items`` items (the highest ids) arrive ``new_items_per_day`` per day from
    day 1, in id order; all others are there from day 0.
    """
    days = np.zeros(config.n_items, dtype=np.int64)
    first_new = config.n_items - config.n_new_items
    if config.new_items_per_day:
        days[first_new:] = 1 + np.arange(config.n_new_items) // config.new_items_per_day
    return days


@dataclass
class World:
    """Latent state of the world. Arrays are indexed by id - 1 (ids start at 1)."""

    config: WorldConfig
    item_category: np.ndarray  # (I,) int
    item_vectors: np.ndarray  # (I, d)
    item_quality: np.ndarray  # (I,)
    item_duration_s: np.ndarray  # (I,) how long consuming the item takes
    user_base_taste: np.ndarray  # (U, d)
    user_drift: np.ndarray  # (U, d) taste moves by drift * progress over the horizon
    user_activity: np.ndarray  # (U,) relative session rate
    item_clickbait: np.ndarray  # (I,) float 0/1

    @property
    def user_ids(self) -> np.ndarray:
        return np.arange(1, self.config.n_users + 1, dtype=np.int64)

    @property
    def item_ids(self) -> np.ndarray:
        return np.arange(1, self.config.n_items + 1, dtype=np.int64)

    @property
    def item_release_day(self) -> np.ndarray:
        """(I,) int day index each item is released on; derived from the config, so never saved."""
        return item_release_days(self.config)

    def released(self, day_index: float) -> np.ndarray:
        """(I,) bool: items released by ``day_index``. Days before 0 see the initial catalogue."""
        return self.item_release_day <= max(day_index, 0)

    def progress(self, day_index: float) -> float:
        """Share of the taste drift done by ``day_index``; held at the end after the horizon."""
        return float(np.clip(day_index / max(self.config.n_days - 1, 1), 0.0, 1.0))

    def user_taste(self, day_index: float, users: np.ndarray | None = None) -> np.ndarray:
        """Taste of users (0-based indices) on a given day; drifts linearly over the horizon."""
        base = self.user_base_taste if users is None else self.user_base_taste[users]
        drift = self.user_drift if users is None else self.user_drift[users]
        return base + self.progress(day_index) * drift

    def true_utility(self, day_index: float, users: np.ndarray | None = None) -> np.ndarray:
        """True utility matrix (users x items) on a day: taste affinity plus item quality."""
        taste = self.user_taste(day_index, users)
        affinity = taste @ self.item_vectors.T / np.sqrt(self.config.dim)
        return affinity + self.config.quality_weight * self.item_quality[None, :]

    def appeal_and_satisfaction(self, utility: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(click appeal, satisfaction) of items (0-based, any shape matching ``utility``).

        Appeal drives clicks: utility plus the pull of clickbait. Satisfaction is the hidden
        truth: utility minus the regret of having consumed clickbait.
        """
        clickbait = self.item_clickbait[items]
        return (
            utility + self.config.clickbait_appeal * clickbait,
            utility - self.config.clickbait_regret * clickbait,
        )

    def click_appeal(self, day_index: float, users: np.ndarray | None = None) -> np.ndarray:
        """What drives clicks (users x items): utility plus the pull of clickbait."""
        return self.appeal_and_satisfaction(self.true_utility(day_index, users), np.arange(self.config.n_items))[0]

    def satisfaction(self, day_index: float, users: np.ndarray | None = None) -> np.ndarray:
        """The hidden truth (users x items): utility minus the regret of having consumed clickbait."""
        return self.appeal_and_satisfaction(self.true_utility(day_index, users), np.arange(self.config.n_items))[1]

    def slate_values(self, day_index: float, users: np.ndarray, slates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(click appeal, satisfaction) of shown items only: ``users`` (S,) and ``slates`` (S, k) 0-based.

        Avoids the full users x items matrix when a policy, not the logging policy, picked the items.
        """
        taste = self.user_taste(day_index, users).astype(np.float64)
        vectors = self.item_vectors[slates].astype(np.float64)
        utility = np.einsum("sd,skd->sk", taste, vectors) / np.sqrt(self.config.dim)
        utility += self.config.quality_weight * self.item_quality[slates]
        return self.appeal_and_satisfaction(utility, slates)

    def catalog(self, day_index: int | None = None) -> pd.DataFrame:
        """The item catalogue a producer would publish: id, category, duration.

        ``day_index`` None is every item over the horizon; a day gives only the items released by then.
        """
        frame = pd.DataFrame(
            {
                "item_id": self.item_ids,
                "category": self.item_category.astype(np.int64),
                "duration_s": self.item_duration_s.astype(np.float64),
            }
        )
        return frame if day_index is None else frame[self.released(day_index)].reset_index(drop=True)

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / WORLD_FILE,
            item_category=self.item_category,
            item_vectors=self.item_vectors,
            item_quality=self.item_quality,
            item_duration_s=self.item_duration_s,
            user_base_taste=self.user_base_taste,
            user_drift=self.user_drift,
            user_activity=self.user_activity,
            item_clickbait=self.item_clickbait,
        )
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> World:
        """Load a saved world; one saved before clickbait or new items existed loads with none of them."""
        config_path = directory / CONFIG_FILE
        if not config_path.exists():
            raise FileNotFoundError(f"No simulated world at {directory}; run `relay simulate` first.")
        raw = json.loads(config_path.read_text())
        raw["weekday_factors"] = tuple(raw["weekday_factors"])
        config = WorldConfig(**raw)
        arrays = dict(np.load(directory / WORLD_FILE))
        arrays.setdefault("item_clickbait", np.zeros(config.n_items, dtype=np.float64))
        return cls(config=config, **arrays)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow warnings for very negative inputs."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=np.float64)))


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


def plackett_luce_propensities(probabilities: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """P(item at position j | items shown above it) under Plackett-Luce sampling.

    ``probabilities`` is (sessions, items), each row summing to 1; ``slates`` is
    (sessions, k) item indices in display order. Returns (sessions, k).
    """
    chosen = np.take_along_axis(probabilities, slates, axis=1)
    taken_before = np.cumsum(chosen, axis=1) - chosen
    remaining = np.clip(1.0 - taken_before, 1e-12, None)
    return np.clip(chosen / remaining, 1e-12, 1.0)


def draw_logging_slates(
    config: WorldConfig, utility: np.ndarray, rng: np.random.Generator, released: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The world's own logging policy: a noisy Plackett-Luce over true utility (Gumbel top-k).

    ``released`` (I,) bool, when given, hides unreleased items: their logits are -inf, so the
    Gumbel top-k never picks them and the softmax gives them zero mass (the Plackett-Luce
    propensities stay exact among released items). The random draws keep their (S, I) shapes,
    so a world without new items consumes the same stream as before.
    Returns (slates (S, k) 0-based item indices in display order, the policy's logits (S, I)).
    """
    logits = (utility + config.policy_noise * rng.normal(size=utility.shape)) / config.policy_temperature
    if released is not None and not released.all():
        logits[:, ~released] = -np.inf
    gumbel = logits - np.log(-np.log(rng.uniform(1e-12, 1.0, size=logits.shape)))
    k = config.slate_size
    top = np.argpartition(-gumbel, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(gumbel, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1), logits


def logging_policy_slates(
    config: WorldConfig, utility: np.ndarray, rng: np.random.Generator, released: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Logging-policy slates with the exact propensity of each item at its position (S, k).

    ``released`` as in ``draw_logging_slates``: the world's own policy passes ``World.released(day)``.
    """
    slates, logits = draw_logging_slates(config, utility, rng, released)
    return slates, plackett_luce_propensities(softmax_rows(logits), slates)


def position_bias(config: WorldConfig, k: int) -> np.ndarray:
    """Examination probability of positions 1..k: attention fades down the slate."""
    return np.exp(-config.position_bias_decay * np.arange(k))


def click_probability(config: WorldConfig, appeal: np.ndarray) -> np.ndarray:
    """P(click) of (S, k) shown items in display order: position bias times sigmoid(appeal - offset)."""
    return position_bias(config, appeal.shape[-1]) * sigmoid(appeal - config.click_offset)


def consumed_share_scale(satisfaction: np.ndarray) -> np.ndarray:
    """How much of an item people consume grows with satisfaction (not appeal): 0.5..1."""
    return 0.5 + 0.5 * sigmoid(satisfaction)


def draw_timespent_s(rng: np.random.Generator, duration_s: np.ndarray, satisfaction: np.ndarray) -> np.ndarray:
    """Timespent of a click: a Beta(2, 2) share of the item, never more than all of it."""
    share = rng.beta(2.0, 2.0, size=satisfaction.shape) * consumed_share_scale(satisfaction)
    return np.maximum(np.minimum(share * duration_s * TIMESPENT_STRETCH, duration_s), MIN_TIMESPENT_S)


def _beta22_cdf(t: np.ndarray) -> np.ndarray:
    return 3.0 * t**2 - 2.0 * t**3


def _beta22_partial_mean(t: np.ndarray) -> np.ndarray:
    """E[B; B < t] for B ~ Beta(2, 2)."""
    return 2.0 * t**3 - 1.5 * t**4


def expected_timespent_s(duration_s: np.ndarray, satisfaction: np.ndarray) -> np.ndarray:
    """Exact E[timespent | click] of ``draw_timespent_s`` (closed form over the Beta(2, 2) share).

    With k = 1.3 * scale * d: E[min(kB, d)] = k E[B; B < d/k] + d P(B >= d/k), and the floor adds
    E[(m - kB)+] = m F(m/k) - k E[B; B < m/k] when m < d (otherwise the result is m).
    """
    duration = np.asarray(duration_s, dtype=np.float64)
    stretch = TIMESPENT_STRETCH * consumed_share_scale(satisfaction) * duration
    safe = np.maximum(stretch, 1e-12)
    cap = np.minimum(duration / safe, 1.0)
    capped = stretch * _beta22_partial_mean(cap) + duration * (1.0 - _beta22_cdf(cap))
    floor = np.minimum(MIN_TIMESPENT_S / safe, 1.0)
    below = MIN_TIMESPENT_S * _beta22_cdf(floor) - stretch * _beta22_partial_mean(floor)
    return np.where(duration > MIN_TIMESPENT_S, capped + below, MIN_TIMESPENT_S)


@dataclass(frozen=True)
class SlateExpectations:
    """Noise-free outcomes of slates, from true utilities: what a slate is worth in expectation."""

    click_probability: np.ndarray  # (S, k); 0 at empty positions
    n_shown: np.ndarray  # (S,)
    clicks: np.ndarray  # (S,) expected clicks: the proxy
    timespent_s: np.ndarray  # (S,) expected timespent: the goal
    satisfaction: np.ndarray  # (S,) expected satisfaction consumed
    value: np.ndarray  # (S,) expected session value (``state.session_value``), what moves engagement


def expected_slate_outcomes(world: World, day_index: float, users: np.ndarray, slates: np.ndarray) -> SlateExpectations:
    """Expected clicks, timespent, satisfaction and session value of (S, k) slates shown to ``users``.

    ``users`` are 0-based (S,); ``slates`` hold 0-based item indices in display order, with -1
    padding after the last shown item. Exact: sum_j P(click_j) * E[outcome | click_j].
    """
    slates = np.asarray(slates, dtype=np.int64)
    shown = slates >= 0
    items = np.where(shown, slates, 0)
    appeal, satisfaction = world.slate_values(day_index, np.asarray(users, dtype=np.int64), items)
    probability = np.where(shown, click_probability(world.config, appeal), 0.0)
    timespent = expected_timespent_s(world.item_duration_s[items], satisfaction)
    config = world.config
    return SlateExpectations(
        click_probability=probability,
        n_shown=shown.sum(axis=1),
        clicks=probability.sum(axis=1),
        timespent_s=(probability * timespent).sum(axis=1),
        satisfaction=(probability * satisfaction).sum(axis=1),
        value=session_value(probability, satisfaction, config.engagement_miss_penalty),
    )


def expected_sessions(
    world: World, day_index: int, engagement: np.ndarray, users: np.ndarray | None = None
) -> np.ndarray:
    """Expected sessions of users (0-based; all by default) on a day: rate x weekday x activity x engagement."""
    config = world.config
    weekday = config.weekday_factors[(config.start.weekday() + day_index) % 7]
    activity = world.user_activity if users is None else world.user_activity[users]
    return config.sessions_per_user_day * weekday * activity.astype(np.float64) * engagement


def logging_reference(
    world: World, day_index: float, users: np.ndarray, rng: np.random.Generator, draws: int = 1
) -> np.ndarray:
    """What the world's own logging policy is worth to each of ``users`` (S,) on a day.

    The mean expected session value of ``draws`` logging-policy slates per user: an unbiased
    estimate of the value users are used to. Engagement moves with session value relative to
    it, so under the logging policy engagement has zero drift for every user on every day, and
    daily volumes and CTR stay as they were; a policy that serves users better or worse than
    the world's own system moves them.
    """
    utility = world.true_utility(day_index, users)
    released = world.released(day_index)
    total = np.zeros(len(users))
    for _ in range(draws):
        slates, _ = draw_logging_slates(world.config, utility, rng, released)
        total += expected_slate_outcomes(world, day_index, users, slates).value
    return total / draws


def build_world(config: WorldConfig) -> World:
    """Draw latent tastes and item properties from the seed. Same seed, same world."""
    rng = np.random.default_rng(config.seed)
    centers = rng.normal(size=(config.n_categories, config.dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    centers *= np.sqrt(config.dim)

    # Category sizes follow a Zipf-like law so some categories dominate the catalogue.
    category_weights = 1.0 / np.arange(1, config.n_categories + 1) ** 0.7
    item_category = rng.choice(config.n_categories, size=config.n_items, p=category_weights / category_weights.sum())
    item_vectors = centers[item_category] * 0.8 + rng.normal(scale=0.6, size=(config.n_items, config.dim))
    item_quality = rng.normal(size=config.n_items)
    item_duration_s = np.round(rng.lognormal(mean=np.log(60.0), sigma=0.6, size=config.n_items), 1)

    # Each user likes one or two categories; their taste drifts towards another one over time.
    favourite = rng.choice(config.n_categories, size=config.n_users, p=category_weights / category_weights.sum())
    second = rng.integers(0, config.n_categories, size=config.n_users)
    mix = rng.uniform(0.0, 0.5, size=(config.n_users, 1))
    base = (1 - mix) * centers[favourite] + mix * centers[second]
    base = base + rng.normal(scale=0.4, size=(config.n_users, config.dim))
    target = centers[rng.integers(0, config.n_categories, size=config.n_users)]
    drift = config.taste_drift * (target - base)
    activity = rng.lognormal(mean=0.0, sigma=0.8, size=config.n_users)

    # Clickbait is drawn last, so the rest of the world is the same with or without it. Weak
    # content dresses up as clickbait: the lower an item's quality, the likelier it is one.
    n_clickbait = round(config.clickbait_share * config.n_items)
    bait_weights = np.exp(-item_quality)
    bait = rng.choice(config.n_items, size=n_clickbait, replace=False, p=bait_weights / bait_weights.sum())
    item_clickbait = np.zeros(config.n_items, dtype=np.float64)
    item_clickbait[bait] = 1.0

    return World(
        config=config,
        item_category=item_category.astype(np.int64),
        item_vectors=item_vectors.astype(np.float32),
        item_quality=item_quality.astype(np.float32),
        item_duration_s=item_duration_s.astype(np.float64),
        user_base_taste=base.astype(np.float32),
        user_drift=drift.astype(np.float32),
        user_activity=(activity / activity.mean()).astype(np.float32),
        item_clickbait=item_clickbait,
    )
