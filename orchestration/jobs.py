"""Jobs and schedules: a daily partitioned ingest+features job, and a daily training cycle.

The jobs name no partitions: they take them from their assets when the definitions resolve,
so they and their schedules follow the partitions ``build_definitions`` binds.
"""

import dagster as dg

DAILY_DATA_JOB = "daily_data"
TRAINING_CYCLE_JOB = "training_cycle"
CONTINUOUS_TRAINING_JOB = "continuous_training"
ONLINE_RECORD_JOB = "daily_online_record"
DAILY_DATA_GROUPS = ("ingest", "features")

daily_data_job = dg.define_asset_job(
    DAILY_DATA_JOB,
    selection=dg.AssetSelection.groups(*DAILY_DATA_GROUPS),
    description="Ingest a day's landing partition, apply the Feast repo, update its features offline and online.",
)

training_cycle_job = dg.define_asset_job(
    TRAINING_CYCLE_JOB,
    selection=dg.AssetSelection.groups("embeddings", "ranker", "evaluation", "registry")
    - dg.AssetSelection.assets("sasrec_daily"),
    description="Train SASRec and the ranker on the accepted history, evaluate, and gate promotion.",
)

continuous_training_job = dg.define_asset_job(
    CONTINUOUS_TRAINING_JOB,
    selection=dg.AssetSelection.assets("sasrec_daily"),
    description="Fine-tune the newest SASRec on a day's events (warm start) and register it.",
)

online_record_job = dg.define_asset_job(
    ONLINE_RECORD_JOB,
    selection=dg.AssetSelection.assets("online_record"),
    description="Record each served model version's realised proxy and goal for a day (re-run a day "
    "once the next one has landed to fill in its return rate).",
)

continuous_training_schedule = dg.build_schedule_from_partitioned_job(
    continuous_training_job, hour_of_day=2, minute_of_hour=0
)

daily_data_schedule = dg.build_schedule_from_partitioned_job(daily_data_job, hour_of_day=1, minute_of_hour=0)

training_cycle_schedule = dg.ScheduleDefinition(
    job=training_cycle_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    description="Nightly training cycle, after the daily data job has landed yesterday's partition.",
)
