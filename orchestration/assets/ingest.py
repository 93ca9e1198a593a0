"""Ingest stage: landing partitions become clean lake events, judged by blocking checks."""

import dagster as dg

from core.lake import refresh_catalog
from ingest.partition import ingest_day, publish_catalog
from orchestration.metadata import preview
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import LakeResource

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
)
def clean_events(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Validate each landing partition, publish clean rows, quarantine bad rows with reasons.

    The verdicts are judged by the blocking checks beside this asset (``check_contract`` and one
    check per statistical rule), which also keep a blocked partition blocked in later runs.
    """
    settings = lake.settings()
    days = partition_days(context)
    verdicts = []
    for day in days:
        verdicts.append(ingest_day(settings, day))
        if len(days) > 31 and (len(verdicts) % 30 == 0 or len(verdicts) == len(days)):
            context.log.info(f"clean_events: {len(verdicts)}/{len(days)} partitions ingested")
    rejected = [v for v in verdicts if not v.accepted]
    for verdict in rejected:
        context.log.error(verdict.reason)
    refresh_catalog(settings)
    return dg.MaterializeResult(
        metadata={
            "partitions": len(verdicts),
            "rows_landed": sum(v.rows_landed for v in verdicts),
            "rows_clean": sum(v.rows_clean for v in verdicts),
            "rows_quarantined": sum(v.rows_quarantined for v in verdicts),
            "duplicates_dropped": sum(v.duplicates_dropped for v in verdicts),
            "rejected_partitions": ", ".join(v.date for v in rejected) or "none",
            "row_failures": dg.MetadataValue.json({v.date: v.row_failures for v in verdicts if v.row_failures}),
            "preview": preview(verdicts[-1].clean) if not verdicts[-1].clean.empty else dg.MetadataValue.md("(empty)"),
        }
    )


@dg.asset(group_name="ingest")
def item_catalog(lake: LakeResource) -> dg.MaterializeResult:
    """The item catalogue (category, duration) from the landing area, validated by ItemCatalog."""
    settings = lake.settings()
    frame = publish_catalog(settings)
    return dg.MaterializeResult(
        metadata={
            "items": len(frame),
            "categories": int(frame["category"].nunique()),
            "median_duration_s": float(frame["duration_s"].median()),
            "preview": preview(frame),
        }
    )
