"""The daily partitioning of events and features (UTC days)."""

from datetime import timedelta

import dagster as dg

from relay.config import get_settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=get_settings().partitions_start, timezone="UTC")


def partition_days(context: dg.AssetExecutionContext) -> list[str]:
    """Days of the run's partition range (one day, or many in a single-run backfill)."""
    start, end = context.partition_time_window
    days = []
    day = start
    while day < end:
        days.append(day.strftime("%Y-%m-%d"))
        day = day + timedelta(days=1)
    return days
