"""A sensor that launches the daily data job when a landing partition appears or changes."""

import json

import dagster as dg

from core.landing import landed_days, partition_path
from core.settings import RelaySettings
from orchestration.jobs import daily_data_job


def build_landing_sensor(settings: RelaySettings, partitions_def: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """The landing sensor of one data directory, over the partitions its definitions use."""

    @dg.sensor(
        name="landing_sensor",
        job=daily_data_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        """One run per new or rewritten landing file (keyed by its mtime), e.g. a repaired partition."""
        seen: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
        valid = set(partitions_def.get_partition_keys())
        requests, skipped = [], []
        for day in landed_days(settings.landing_dir):
            mtime = partition_path(settings.landing_dir, day).stat().st_mtime
            if seen.get(day) == mtime:
                continue
            if day not in valid:
                skipped.append(day)  # not marked seen: requested once the partitions include it
                continue
            seen[day] = mtime
            requests.append(dg.RunRequest(partition_key=day, run_key=f"{day}@{mtime}"))
        if skipped:
            context.log.warning(
                f"landing files outside the partitions {min(valid, default='-')}..{max(valid, default='-')}: "
                f"{skipped}. Before the first day: set RELAY_PARTITIONS_START. After the last day of a "
                "simulated or imported dataset: reload the code location to extend its partitions."
            )
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen))

    return landing_sensor
