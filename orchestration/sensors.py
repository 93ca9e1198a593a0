"""A sensor that launches the daily data job when a landing partition appears or changes."""

import json

import dagster as dg

from core.landing import landed_days, partition_path
from core.settings import get_settings
from orchestration.jobs import daily_data_job
from orchestration.partitions import daily_partitions


@dg.sensor(job=daily_data_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One run per new or rewritten landing file (keyed by its mtime), e.g. a repaired partition."""
    settings = get_settings()
    seen: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
    valid = set(daily_partitions.get_partition_keys())
    requests, skipped = [], []
    for day in landed_days(settings.landing_dir):
        mtime = partition_path(settings.landing_dir, day).stat().st_mtime
        if seen.get(day) == mtime:
            continue
        if day not in valid:
            skipped.append(day)
            continue
        seen[day] = mtime
        requests.append(dg.RunRequest(partition_key=day, run_key=f"{day}@{mtime}"))
    if skipped:
        context.log.warning(f"landing files outside the partition range (RELAY_PARTITIONS_START?): {skipped}")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen))
