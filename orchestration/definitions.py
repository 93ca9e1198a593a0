"""The one Dagster ``Definitions`` of Relay: lineage from raw logs to the promoted champion."""

import dagster as dg

from core.settings import RelaySettings, get_settings
from orchestration.assets import embeddings, evaluation, features, ingest, online_record, ranker, registry
from orchestration.checks import build_checks
from orchestration.experiment_jobs import abtest_job, catchup_job, challenger_job, ranker_variant_job
from orchestration.jobs import (
    continuous_training_job,
    continuous_training_schedule,
    daily_data_job,
    daily_data_schedule,
    online_record_job,
    training_cycle_job,
    training_cycle_schedule,
)
from orchestration.partitions import bind_partitions, daily_partitions_for
from orchestration.resources import build_resources
from orchestration.sensors import build_landing_sensor, build_online_store_sensor, online_store_restore_job

# Declared over the stand-in partitions; build_definitions binds them to the settings' own.
all_assets = dg.load_assets_from_modules([ingest, features, embeddings, ranker, evaluation, registry, online_record])


def build_definitions(settings: RelaySettings) -> dg.Definitions:
    """Definitions bound to one data directory and profile (the CLI and tests pass their own).

    Assets, checks, the partitioned jobs and their schedules, and the landing sensor all use
    ``daily_partitions_for(settings)``, read when this is called (not at import). The online store
    sensor probes this profile's online store and requests the ``online_store_restore`` job.
    """
    partitions_def = daily_partitions_for(settings)
    return dg.Definitions(
        assets=bind_partitions([ingest.raw_logs, *all_assets], partitions_def),
        asset_checks=build_checks(partitions_def),
        jobs=[
            daily_data_job,
            training_cycle_job,
            continuous_training_job,
            challenger_job,
            ranker_variant_job,
            catchup_job,
            abtest_job,
            online_record_job,
            online_store_restore_job,
        ],
        schedules=[daily_data_schedule, training_cycle_schedule, continuous_training_schedule],
        sensors=[build_landing_sensor(settings, partitions_def), build_online_store_sensor(settings)],
        resources=build_resources(settings),
    )


defs = build_definitions(get_settings())
