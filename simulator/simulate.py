"""Generate a whole world: latent state plus one landing partition per day.

Days are generated in order because users carry engagement from one day to the next; the
state after the last day is saved beside the world (``state.npz``), so experiments continue
from the end of the landed history rather than from a fresh population.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.landing import write_catalog, write_partition
from core.settings import RelaySettings, record_dataset
from simulator.generate import day_date, generate_day_with_state
from simulator.state import UserState
from simulator.world import World, WorldConfig, build_world


@dataclass(frozen=True)
class SimulationSummary:
    days: int
    events: int
    impressions: int
    clicks: int
    first_day: str
    last_day: str

    @property
    def ctr(self) -> float:
        return self.clicks / max(self.impressions, 1)


def simulate(config: WorldConfig, landing_dir: Path, world_dir: Path, progress: bool = True) -> SimulationSummary:
    """Build the world from its seed, save it, publish its catalogue, land ``config.n_days``
    daily partitions, and save the users' state after the last day (with every day's start
    state as history, so a re-delivered day can be generated exactly as it first landed)."""
    world = build_world(config)
    world.save(world_dir)
    # One catalogue, as the landing area keeps (no dated versions): every item released by the
    # last day, so the catalogue covers any item the logs will ever show. Items arriving later
    # in the horizon are listed early but no log shows them before their release day.
    write_catalog(landing_dir, world.catalog(config.n_days - 1))
    events = impressions = clicks = 0
    state = UserState.initial(config.n_users)
    history = np.empty((config.n_days, config.n_users))
    for day_index in tqdm(range(config.n_days), desc="simulate days", unit="day", disable=not progress):
        history[day_index] = state.engagement
        frame, state = generate_day_with_state(world, day_index, state)
        write_partition(landing_dir, day_date(world, day_index), frame)
        events += len(frame)
        n_clicks = int((frame["event_type"] == "click").sum())
        clicks += n_clicks
        impressions += len(frame) - n_clicks
    state.save(world_dir, history)
    return SimulationSummary(
        days=config.n_days,
        events=events,
        impressions=impressions,
        clicks=clicks,
        first_day=day_date(world, 0).isoformat(),
        last_day=day_date(world, config.n_days - 1).isoformat(),
    )


def simulate_into(settings: RelaySettings, config: WorldConfig, progress: bool = True) -> SimulationSummary:
    """``simulate`` into the data directory and record the world's span: a simulated world ends
    on its last day, so its daily partitions end there too instead of running on to today.
    Simulating again with more days re-lands the world and moves the recorded end."""
    summary = simulate(config, settings.landing_dir, settings.world_dir, progress)
    record_dataset(settings, summary.first_day, f"simulator:seed={config.seed}", summary.last_day, "simulated")
    return summary


def load_world(world_dir: Path) -> World:
    return World.load(world_dir)


def load_state(world_dir: Path, day_index: int | None = None) -> UserState:
    """The users' state at the start of a landed day, or (default) of the day after the history."""
    return UserState.load(world_dir, day_index)


def state_for_day(world_dir: Path, day_index: int) -> UserState | None:
    """The state a re-generated day should start from, so a re-delivery matches the first landing.

    None (everyone at rest) for a world saved without state or a day past the saved history.
    """
    try:
        return UserState.load(world_dir, day_index)
    except (FileNotFoundError, KeyError):
        return None
