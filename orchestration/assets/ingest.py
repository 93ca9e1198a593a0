"""Ingest stage: landing partitions become clean lake events behind a blocking contract check."""

from collections.abc import Iterator

import dagster as dg

from orchestration.metadata import preview
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import LakeResource
from relay.ingest import ingest_day

raw_logs = dg.AssetSpec(
    "raw_logs",
    partitions_def=daily_partitions,
    group_name="ingest",
    description="Daily raw-log parquet files in the landing folder, written by producers (or `relay simulate`).",
)


@dg.asset(
    deps=[raw_logs],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
    check_specs=[
        dg.AssetCheckSpec(
            "check_contract",
            asset="clean_events",
            blocking=True,
            description="Every partition in the run passed the RawLogs contract; nothing downstream runs otherwise.",
        )
    ],
)
def clean_events(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Validate each landing partition, publish clean rows, quarantine bad rows with reasons."""
    settings = lake.settings()
    verdicts = [ingest_day(settings, day) for day in partition_days(context)]
    rejected = [v for v in verdicts if not v.accepted]
    for verdict in rejected:
        context.log.error(verdict.reason)
    yield dg.MaterializeResult(
        metadata={
            "partitions": len(verdicts),
            "rows_landed": sum(v.rows_landed for v in verdicts),
            "rows_clean": sum(v.rows_clean for v in verdicts),
            "rows_quarantined": sum(v.rows_quarantined for v in verdicts),
            "duplicates_dropped": sum(v.duplicates_dropped for v in verdicts),
            "rejected_partitions": ", ".join(v.date for v in rejected) or "none",
            "preview": preview(verdicts[-1].clean) if not verdicts[-1].clean.empty else dg.MetadataValue.md("(empty)"),
        }
    )
    yield dg.AssetCheckResult(
        check_name="check_contract",
        passed=not rejected,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(v.reason for v in rejected) or "all partitions passed the contract",
        metadata={
            "rejected": dg.MetadataValue.json({v.date: v.reason for v in rejected}),
            "row_failures": dg.MetadataValue.json({v.date: v.row_failures for v in verdicts if v.row_failures}),
        },
    )
