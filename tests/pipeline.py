"""Helpers that run Relay's asset graph through ``dagster.materialize`` in a test's data directory."""

from __future__ import annotations

import dagster as dg

from core.settings import RelaySettings
from orchestration.checks import all_checks
from orchestration.definitions import all_assets
from orchestration.partitions import partition_range_tags
from orchestration.resources import build_resources
from simulator.simulate import simulate
from simulator.world import WorldConfig

DATA_GROUPS = {"ingest", "features"}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TINY_TRAINING = {
    **QUIET,
    "ops": {
        "training_window": {"config": {"holdout_days": 3, "ranker_days": 6, "min_sasrec_days": 5}},
        "sasrec_model": {"config": {"epochs": 12, "dim": 32, "patience": 6}},
        "ranker_model": {"config": {"n_estimators": 80, "min_child_samples": 20}},
    },
}


def tiny_world(
    settings: RelaySettings, days: int = 18, users: int = 250, items: int = 120, seed: int = 3
) -> WorldConfig:
    config = WorldConfig(n_users=users, n_items=items, n_days=days, seed=seed, sessions_per_user_day=1.0)
    simulate(config, settings.landing_dir, settings.world_dir, progress=False)
    return config


def data_assets() -> list[dg.AssetsDefinition]:
    return [a for a in all_assets if a.group_names_by_key[a.key] in DATA_GROUPS]


def training_assets() -> list[dg.AssetsDefinition]:
    """The training cycle: every unpartitioned asset outside ingest and features."""
    return [a for a in all_assets if a.group_names_by_key[a.key] not in DATA_GROUPS and a.partitions_def is None]


def materialize_days(
    settings: RelaySettings, first: str, last: str, instance: dg.DagsterInstance, **kwargs
) -> dg.ExecuteInProcessResult:
    """Ingest + features for [first, last] in one single-run backfill."""
    return dg.materialize(
        [*data_assets(), *all_checks],
        resources=build_resources(settings),
        instance=instance,
        tags=partition_range_tags(first, last),
        run_config=QUIET,
        **kwargs,
    )


def materialize_training(
    settings: RelaySettings, instance: dg.DagsterInstance, run_config: dict | None = None, **kwargs
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        training_assets(),
        resources=build_resources(settings),
        instance=instance,
        run_config=run_config or TINY_TRAINING,
        **kwargs,
    )
