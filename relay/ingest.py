"""Ingest one landing partition into the lake: validate, split, store, account.

The landing file is only read, never modified or deleted. Clean rows, quarantined rows and
the accounting row are each replaced atomically, so re-ingesting a day is idempotent.
"""

from __future__ import annotations

import pandas as pd

from orchestration.validation import IngestPolicy, PartitionVerdict, validate_partition
from relay import lake
from relay.config import RelaySettings
from relay.landing import partition_path, read_partition


def ingest_day(settings: RelaySettings, day: str, policy: IngestPolicy | None = None) -> PartitionVerdict:
    if not partition_path(settings.landing_dir, day).exists():
        verdict = PartitionVerdict(
            date=day,
            clean=pd.DataFrame(),
            quarantine=pd.DataFrame(),
            rows_landed=0,
            duplicates_dropped=0,
            structural_failures=["landing file missing"],
            accepted=False,
            reason=f"partition {day} rejected: landing file {partition_path(settings.landing_dir, day)} is missing",
        )
    else:
        verdict = validate_partition(read_partition(settings.landing_dir, day), day, policy)
    store_verdict(settings, verdict)
    return verdict


def store_verdict(settings: RelaySettings, verdict: PartitionVerdict) -> None:
    """Write quarantine and accounting always; publish clean rows only for accepted partitions.

    A rejected partition leaves any earlier clean output in place (nothing stored is lost) but
    its accounting row marks it rejected, which hides it from ``accepted_events``.
    """
    if verdict.accepted:
        lake.write_partition(lake.table_dir(settings, lake.EVENTS), verdict.date, verdict.clean)
    lake.write_partition(lake.table_dir(settings, lake.QUARANTINE), verdict.date, verdict.quarantine)
    lake.write_partition(
        lake.table_dir(settings, lake.ACCOUNTING), verdict.date, pd.DataFrame([verdict.accounting_row()])
    )
