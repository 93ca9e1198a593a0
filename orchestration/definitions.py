"""The one Dagster ``Definitions`` of Relay: lineage from raw logs to the promoted champion."""

import dagster as dg

from core.settings import RelaySettings, get_settings
from orchestration.assets import embeddings, evaluation, features, ingest, ranker, registry
from orchestration.checks import all_checks
from orchestration.jobs import (
    continuous_training_job,
    continuous_training_schedule,
    daily_data_job,
    daily_data_schedule,
    training_cycle_job,
    training_cycle_schedule,
)
from orchestration.resources import build_resources
from orchestration.sensors import landing_sensor

all_assets = dg.load_assets_from_modules([ingest, features, embeddings, ranker, evaluation, registry])


def build_definitions(settings: RelaySettings) -> dg.Definitions:
    """Definitions bound to one data directory and profile (the CLI and tests pass their own)."""
    return dg.Definitions(
        assets=[ingest.raw_logs, *all_assets],
        asset_checks=all_checks,
        jobs=[daily_data_job, training_cycle_job, continuous_training_job],
        schedules=[daily_data_schedule, training_cycle_schedule, continuous_training_schedule],
        sensors=[landing_sensor],
        resources=build_resources(settings),
    )


defs = build_definitions(get_settings())
