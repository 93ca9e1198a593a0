"""The daily partitioning of events and features (UTC days), built from the settings.

Assets and checks are declared once against ``daily_partitions``, a stand-in, and
``build_definitions`` rebinds them to ``daily_partitions_for(settings)``: the days start on the
settings' first day and, for a bounded dataset (a simulated world, an imported dump), end on its
last landed day instead of running on to today. Nothing here reads the environment at import.
"""

import dagster as dg

from core.dataset import last_partition_day, next_day, read_dataset_span
from core.landing import landed_days
from core.settings import DEFAULT_PARTITIONS_START, RelaySettings

# The stand-in of the module-level asset and check definitions (open-ended from the default
# first day); build_definitions replaces it everywhere with the settings' own partitions.
daily_partitions = dg.DailyPartitionsDefinition(start_date=DEFAULT_PARTITIONS_START, timezone="UTC")

# Dagster's run tags for one run over a partition range (a single-run backfill), see partition_range_tags.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def daily_partitions_for(settings: RelaySettings) -> dg.DailyPartitionsDefinition:
    """Days from ``settings.partitions_start``: up to the last landed day of a bounded dataset
    (so a 60-day world has 60 partitions, and landing a later day extends them), up to today
    for a live feed (no dataset record)."""
    last = last_partition_day(read_dataset_span(settings.root), landed_days(settings.landing_dir))
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start, end_date=next_day(last) if last else None, timezone="UTC"
    )


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make one run cover the partitions [first, last].

    ``execute_in_process`` and ``materialize`` take a single ``partition_key`` in Dagster 1.13
    (dagster-io/dagster#14905); the UI and ``dagster asset materialize --partition-range`` run a
    range as one run carrying these system tags. They are spelled here instead of imported from
    the private ``dagster._core``; tests/orchestration/test_partitions.py proves Dagster reads them.
    """
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def partition_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[str]:
    """Days of the run's own partition range (one day, or many in a single-run backfill)."""
    return list(context.partition_keys)


def chunked(days: list[str], size: int) -> list[tuple[int, list[str]]]:
    """Consecutive chunks of ``days`` with the running count of days done after each."""
    return [(min(i + size, len(days)), days[i : i + size]) for i in range(0, len(days), size)]


def bind_partitions(
    assets: list[dg.AssetsDefinition | dg.AssetSpec], partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """The module-level assets with the stand-in partitions replaced by ``partitions_def``
    (unpartitioned assets unchanged)."""

    def rebind(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def != daily_partitions:
            return spec
        return spec.replace_attributes(partitions_def=partitions_def)

    return [rebind(a) if isinstance(a, dg.AssetSpec) else a.map_asset_specs(rebind) for a in assets]
