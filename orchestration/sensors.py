"""Sensors: the daily data job when a landing partition appears or changes, and the online store
restore (the job is here too) when the online store comes back empty."""

import json
import time

import dagster as dg

from core.landing import landed_days, partition_path
from core.settings import RelaySettings
from features.feast_store import open_store
from orchestration.jobs import daily_data_job
from orchestration.resources import FeastResource
from serving.online_guard import bounded_redis_url
from serving.online_probe import needs_restore, probe_store
from serving.online_restore import restore_online_store
from serving.options import ServingOptions

ONLINE_STORE_RESTORE_JOB = "online_store_restore"

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


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


@dg.op(description="Load every view that was loaded online again from the offline store, over its recorded span.")
def restore_online_views(context: dg.OpExecutionContext, feast: FeastResource) -> dg.Output[int]:
    spans = restore_online_store(feast.store())
    for span in spans:
        context.log.info(f"re-materialized {', '.join(span.views)} over {span.start:%Y-%m-%d}..{span.end:%Y-%m-%d}")
    views = sum(len(span.views) for span in spans)
    return dg.Output(views, metadata={"views": views, "spans": len(spans)})


@dg.job(
    name=ONLINE_STORE_RESTORE_JOB,
    description="Re-materialize the online store from the offline store (after it came back empty).",
)
def online_store_restore_job() -> None:
    restore_online_views()


def build_online_store_sensor(settings: RelaySettings) -> dg.SensorDefinition:
    """The online store sensor of one data directory: repair without a person when it lost its keys."""

    @dg.sensor(
        name="online_store_sensor",
        job=online_store_restore_job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def online_store_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        """A restore run when a probe of known keys finds the online store empty (say, a Redis that
        restarted without persistence), unless one is already queued or running."""
        probe = probe_store(settings, open_store(bounded_redis_url(settings, ServingOptions())))
        if not needs_restore(probe):
            return dg.SkipReason(f"online store {probe.state}: {probe.present}/{probe.probed} known keys present")
        in_flight = context.instance.get_run_records(
            dg.RunsFilter(job_name=ONLINE_STORE_RESTORE_JOB, statuses=IN_FLIGHT), limit=1
        )
        if in_flight:
            return dg.SkipReason(f"online store empty; restore run {in_flight[0].dagster_run.run_id} under way")
        return dg.RunRequest(
            run_key=f"online_store_empty@{time.time():.0f}",
            tags={"relay/reason": "online_store_empty", "relay/probe_view": probe.view or ""},
        )

    return online_store_sensor
