"""Generate a whole world: latent state plus one landing partition per day."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from core.landing import write_catalog, write_partition
from core.settings import RelaySettings, record_dataset
from simulator.generate import day_date, generate_day
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
    """Build the world from its seed, save it, publish its catalogue, and land ``config.n_days``
    daily partitions."""
    world = build_world(config)
    world.save(world_dir)
    write_catalog(landing_dir, world.catalog())
    events = impressions = clicks = 0
    for day_index in tqdm(range(config.n_days), desc="simulate days", unit="day", disable=not progress):
        frame = generate_day(world, day_index)
        write_partition(landing_dir, day_date(world, day_index), frame)
        events += len(frame)
        n_clicks = int((frame["event_type"] == "click").sum())
        clicks += n_clicks
        impressions += len(frame) - n_clicks
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
