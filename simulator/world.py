"""A seeded synthetic world: users with drifting latent tastes, items with categories and quality.

The true utility of every (user, item) pair is known, so later analysis can compare what a
model learned with what the world actually rewards.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

WORLD_FILE = "world.npz"
CONFIG_FILE = "world.json"


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

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_days", "n_categories", "dim", "slate_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"WorldConfig.{name} must be positive, got {getattr(self, name)}")
        if self.slate_size > self.n_items:
            raise ValueError(f"WorldConfig.slate_size ({self.slate_size}) exceeds n_items ({self.n_items})")
        if len(self.weekday_factors) != 7:
            raise ValueError("WorldConfig.weekday_factors needs exactly 7 values (Monday first)")
        date.fromisoformat(self.start_date)

    @property
    def start(self) -> date:
        return date.fromisoformat(self.start_date)


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

    @property
    def user_ids(self) -> np.ndarray:
        return np.arange(1, self.config.n_users + 1, dtype=np.int64)

    @property
    def item_ids(self) -> np.ndarray:
        return np.arange(1, self.config.n_items + 1, dtype=np.int64)

    def user_taste(self, day_index: float, users: np.ndarray | None = None) -> np.ndarray:
        """Taste of users (0-based indices) on a given day; drifts linearly over the horizon."""
        progress = day_index / max(self.config.n_days - 1, 1)
        base = self.user_base_taste if users is None else self.user_base_taste[users]
        drift = self.user_drift if users is None else self.user_drift[users]
        return base + progress * drift

    def true_utility(self, day_index: float, users: np.ndarray | None = None) -> np.ndarray:
        """True utility matrix (users x items) on a day: taste affinity plus item quality."""
        taste = self.user_taste(day_index, users)
        affinity = taste @ self.item_vectors.T / np.sqrt(self.config.dim)
        return affinity + self.config.quality_weight * self.item_quality[None, :]

    def catalog(self) -> pd.DataFrame:
        """The item catalogue a producer would publish: id, category, duration."""
        return pd.DataFrame(
            {
                "item_id": self.item_ids,
                "category": self.item_category.astype(np.int64),
                "duration_s": self.item_duration_s.astype(np.float64),
            }
        )

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
        )
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> World:
        config_path = directory / CONFIG_FILE
        if not config_path.exists():
            raise FileNotFoundError(f"No simulated world at {directory}; run `relay simulate` first.")
        raw = json.loads(config_path.read_text())
        raw["weekday_factors"] = tuple(raw["weekday_factors"])
        arrays = np.load(directory / WORLD_FILE)
        return cls(config=WorldConfig(**raw), **{name: arrays[name] for name in arrays.files})


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

    return World(
        config=config,
        item_category=item_category.astype(np.int64),
        item_vectors=item_vectors.astype(np.float32),
        item_quality=item_quality.astype(np.float32),
        item_duration_s=item_duration_s.astype(np.float64),
        user_base_taste=base.astype(np.float32),
        user_drift=drift.astype(np.float32),
        user_activity=(activity / activity.mean()).astype(np.float32),
    )
