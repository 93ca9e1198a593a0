"""The daily partitioning of events and features (UTC days)."""

import dagster as dg

from core.settings import get_settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=get_settings().partitions_start, timezone="UTC")


def partition_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[str]:
    """Days of the run's partition range (one day, or many in a single-run backfill)."""
    return daily_partitions.get_partition_keys_in_range(context.partition_key_range)


def chunked(days: list[str], size: int) -> list[tuple[int, list[str]]]:
    """Consecutive chunks of ``days`` with the running count of days done after each."""
    return [(min(i + size, len(days)), days[i : i + size]) for i in range(0, len(days), size)]
