"""Ingest stage: landing partitions become clean lake events, judged by blocking checks."""

from collections.abc import Callable

import dagster as dg

from ingest.partition import IngestBatch, ingest_days, publish_catalog
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
    days = partition_days(context)
    batch = ingest_days(lake.settings(), days, _progress(context, len(days)))
    for verdict in batch.rejected:
        context.log.error(verdict.reason)
    return dg.MaterializeResult(metadata=_batch_metadata(batch))


def _progress(context: dg.AssetExecutionContext, total: int) -> Callable[[int, int], None] | None:
    """Log every 30 partitions of a long backfill (a month's run stays quiet)."""
    if total <= 31:
        return None

    def log(done: int, total: int) -> None:
        if done % 30 == 0 or done == total:
            context.log.info(f"clean_events: {done}/{total} partitions ingested")

    return log


def _batch_metadata(batch: IngestBatch) -> dict[str, object]:
    last = batch.verdicts[-1].clean
    return {
        "partitions": len(batch.verdicts),
        "rows_landed": batch.total("rows_landed"),
        "rows_clean": batch.total("rows_clean"),
        "rows_quarantined": batch.total("rows_quarantined"),
        "duplicates_dropped": batch.total("duplicates_dropped"),
        "rejected_partitions": ", ".join(v.date for v in batch.rejected) or "none",
        "row_failures": dg.MetadataValue.json({v.date: v.row_failures for v in batch.verdicts if v.row_failures}),
        "preview": preview(last) if not last.empty else dg.MetadataValue.md("(empty)"),
    }


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
