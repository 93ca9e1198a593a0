"""Inject a named incident into the simulated world's data, or re-deliver a clean day."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from core import lake
from core.landing import catalog_path, partition_path, read_partition, write_partition
from core.settings import RelaySettings
from simulator.generate import generate_day
from simulator.incidents import INCIDENTS, apply_incident
from simulator.simulate import state_for_day
from simulator.world import World


def inject_incident(settings: RelaySettings, name: str, day: str, seed: int = 0) -> str:
    """Corrupt one partition in place; returns what was written where."""
    if name not in INCIDENTS:
        raise KeyError(f"unknown incident {name!r}; `relay incident --list` shows the kinds")
    incident = INCIDENTS[name]
    if incident.target == "landing":
        catalog = pd.read_parquet(catalog_path(settings.landing_dir)) if incident.needs_catalog else None
        earlier = _earlier_partition(settings, day, incident.history_days) if incident.history_days else None
        corrupted = apply_incident(name, read_partition(settings.landing_dir, day), seed, catalog, earlier)
        path = write_partition(settings.landing_dir, day, corrupted)
    else:
        directory = settings.features_dir / incident.target
        source = lake.partition_dir(directory, day) / "part.parquet"
        if not source.exists():
            raise FileNotFoundError(f"{incident.target} has no partition {day}; run the data job for it first")
        earlier = None
        if incident.history_days:
            before = (date.fromisoformat(day) - timedelta(days=incident.history_days)).isoformat()
            earlier = pd.read_parquet(lake.partition_dir(directory, before) / "part.parquet")
        path = lake.write_partition(directory, day, apply_incident(name, pd.read_parquet(source), seed, None, earlier))
    return f"{name} ({incident.description}) -> {path}"


def _earlier_partition(settings: RelaySettings, day: str, days_before: int) -> pd.DataFrame:
    earlier = (date.fromisoformat(day) - timedelta(days=days_before)).isoformat()
    if not partition_path(settings.landing_dir, earlier).exists():
        raise FileNotFoundError(f"this incident re-sends partition {earlier}, which has not landed")
    return read_partition(settings.landing_dir, earlier)


def reland_day(settings: RelaySettings, day: str) -> str:
    """Re-deliver a clean copy of a simulated day (the producer fixed its feed)."""
    world = World.load(settings.world_dir)
    index = (date.fromisoformat(day) - world.config.start).days
    if index < 0:
        raise ValueError(f"{day} is before the simulated world starts ({world.config.start_date})")
    return str(
        write_partition(settings.landing_dir, day, generate_day(world, index, state_for_day(settings.world_dir, index)))
    )
