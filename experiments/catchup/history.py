"""A long simulated history and the incumbent that lived through it.

The world drifts (users' tastes move over the horizon) and publishes new items every day. The
incumbent is trained once on the first ``base_days`` with today's production recipe
(``SASRecTrainConfig()``), then fine-tuned every day with ``sasrec_daily``'s frozen recipe
(``training.sasrec.continuous.finetune_day``). Every day's compute is measured as it runs and
written to a ledger. The ledger and the incumbent's checkpoints of the evaluation days are
cached under the data directory, keyed by the world and the recipe, so a rerun reuses them
while still counting their compute in full.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from core import atomic
from simulator.generate import generate_day_with_state
from simulator.state import UserState
from simulator.world import World, WorldConfig, build_world
from training.catchup.compute import Compute, cpu_seconds
from training.catchup.strategies import training_compute
from training.sasrec.checkpoint import load_checkpoint, save_checkpoint
from training.sasrec.continuous import FINETUNE, finetune_day
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec
from training.sasrec.train import SASRecTrainConfig, train_sasrec


@dataclass(frozen=True)
class HistoryConfig:
    """The world and the incumbent's life. ``eval_days`` daily evaluations end the history."""

    n_users: int = 3000
    n_items: int = 1100
    n_days: int = 365
    new_items_per_day: int = 2
    base_days: int = 30
    eval_days: int = 8
    seed: int = 11

    def __post_init__(self) -> None:
        if not 1 <= self.base_days < self.n_days - self.eval_days - 1:
            raise ValueError("HistoryConfig needs 1 <= base_days < n_days - eval_days - 1")
        if self.eval_days < 3:
            raise ValueError("HistoryConfig.eval_days must be >= 3: a match needs three consecutive days")

    @property
    def catchup_day(self) -> int:
        """The last day a challenger's catch-up trains on; it is first evaluated on the next."""
        return self.n_days - self.eval_days - 1

    @property
    def evaluation_days(self) -> list[int]:
        """Days whose end-of-day models are scored on the following day's clicks."""
        return list(range(self.catchup_day, self.n_days - 1))

    def world_config(self) -> WorldConfig:
        return WorldConfig(
            n_users=self.n_users,
            n_items=self.n_items,
            n_days=self.n_days,
            new_items_per_day=self.new_items_per_day,
            seed=self.seed,
        )

    def key(self) -> str:
        recipe = {"world": asdict(self), "train": asdict(SASRecTrainConfig()), "finetune": FINETUNE}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class History:
    config: HistoryConfig
    world: World
    clicks: pd.DataFrame  # user_id, item_id, ts, day (0-based index)

    def day_name(self, day: int) -> str:
        return (self.world.config.start + timedelta(days=day)).isoformat()

    def until(self, day: int) -> pd.DataFrame:
        """Every click up to the end of ``day``."""
        return self.clicks[self.clicks["day"] <= day]

    def on(self, day: int) -> pd.DataFrame:
        return self.clicks[self.clicks["day"] == day]

    def categories(self, day: int) -> dict[int, int]:
        """The catalogue as published by ``day``: item_id -> category."""
        catalog = self.world.catalog(day)
        return dict(zip(catalog["item_id"].astype(int), catalog["category"].astype(int), strict=True))


def generate_history(config: HistoryConfig, cache: Path, progress: bool = True) -> History:
    """Every day's clicks of the world (users carry engagement day to day), cached as parquet."""
    world = build_world(config.world_config())
    path = cache / f"clicks-{config.key()}.parquet"
    if path.exists():
        return History(config, world, pd.read_parquet(path))
    frames, state = [], UserState.initial(config.n_users)
    for day in tqdm(range(config.n_days), desc="simulate history", unit="day", disable=not progress):
        logs, state = generate_day_with_state(world, day, state)
        clicks = logs.loc[logs["event_type"] == "click", ["user_id", "item_id", "ts"]]
        frames.append(clicks.assign(day=np.int32(day)))
    clicks = pd.concat(frames, ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_parquet(clicks, path)
    return History(config, world, clicks)


@dataclass(frozen=True)
class IncumbentLedger:
    """Cumulative compute of the incumbent at the end of every day it trained."""

    cumulative: dict[int, Compute]  # day -> compute spent through the end of that day
    checkpoints: dict[int, Path]  # evaluation day -> checkpoint of the model at its end

    def at(self, day: int) -> Compute:
        return self.cumulative[day]

    def load(self, day: int) -> tuple[SASRec, Vocabulary]:
        model, vocabulary, _ = load_checkpoint(self.checkpoints[day])
        return model, vocabulary


def replay_incumbent(history: History, cache: Path, progress: bool = True) -> IncumbentLedger:
    """Train once on the first ``base_days``, then fine-tune every day; cached with its ledger."""
    config = history.config
    directory = cache / f"incumbent-{config.key()}"
    ledger_path = directory / "ledger.json"
    keep = set(config.evaluation_days)
    if ledger_path.exists():
        raw = json.loads(ledger_path.read_text())
        return IncumbentLedger(
            {int(day): Compute(**values) for day, values in raw["cumulative"].items()},
            {int(day): directory / name for day, name in raw["checkpoints"].items()},
        )
    base = config.base_days - 1
    with cpu_seconds() as spent:
        result = train_sasrec(history.until(base), SASRecTrainConfig(), progress=False)
    total = training_compute(result, spent[0])
    model, vocabulary = result.model, result.vocabulary
    cumulative, checkpoints = {base: total}, {}
    days = range(config.base_days, config.n_days - 1)
    for day in tqdm(days, desc="incumbent daily fine-tunes", unit="day", disable=not progress):
        with cpu_seconds() as spent:
            tuned = finetune_day(model, vocabulary, history.until(day), history.day_name(day), SASRecTrainConfig())
        total = total + training_compute(tuned, spent[0])
        cumulative[day] = total
        model, vocabulary = tuned.model, tuned.vocabulary
        if day in keep:
            checkpoints[day] = directory / f"day-{day}.pt"
            save_checkpoint(checkpoints[day], model, vocabulary, {"day": day})
    payload = {
        "cumulative": {str(day): compute.as_dict() for day, compute in cumulative.items()},
        "checkpoints": {str(day): path.name for day, path in checkpoints.items()},
        "config": asdict(config),
    }
    directory.mkdir(parents=True, exist_ok=True)
    ledger_path.write_text(json.dumps(payload, indent=2))
    return IncumbentLedger(cumulative, checkpoints)
