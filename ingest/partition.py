"""Ingest one landing partition into the lake: validate, split, profile, store, account.

The landing file is only read, never modified or deleted. Clean rows, quarantined rows, the
profile and the accounting row are each replaced atomically, so re-ingesting a day is
idempotent. An explicit override (``relay repair DAY --accept``) publishes the clean rows of a
partition the contract rejected; its bad rows stay quarantined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd

from core import atomic, lake
from core.landing import catalog_path, partition_path, read_landed_day
from core.settings import RelaySettings
from quality.contracts import ItemCatalog
from quality.identity import event_ids_stored_elsewhere
from quality.profile import profile_partition
from quality.records import override_for, write_profile
from quality.thresholds import thresholds_for
from quality.validation import (
    IngestPolicy,
    PartitionVerdict,
    empty_clean,
    empty_quarantine,
    exact_duplicates,
    validate_partition,
)


def ingest_day(
    settings: RelaySettings, day: str, policy: IngestPolicy | None = None, durations: pd.Series | None = None
) -> PartitionVerdict:
    path = partition_path(settings.landing_dir, day)
    if not path.exists():
        raw = pd.DataFrame()
        verdict = PartitionVerdict(
            date=day,
            clean=empty_clean(),
            quarantine=empty_quarantine(),
            rows_landed=0,
            duplicates_dropped=0,
            structural_failures=["landing file missing"],
            accepted=False,
            reason=f"partition {day} rejected: landing file {path} is missing",
        )
    else:
        raw = read_landed_day(settings.landing_dir, settings.served_dir, day)
        verdict = validate_partition(raw, day, policy)
    override = override_for(settings, day)
    if override is not None and not verdict.accepted:
        verdict = replace(
            verdict,
            accepted=True,
            reason=f"accepted by override of {override['given_by']} ({override['reason']}); was: {verdict.reason}",
        )
    deduped = raw.loc[~exact_duplicates(raw)] if len(raw) else raw
    profile = profile_partition(raw, deduped, day, durations)
    if "event_id" in deduped.columns:
        window = thresholds_for(settings)["reference"]["window_days"]
        profile["stored_elsewhere"] = event_ids_stored_elsewhere(settings, day, deduped["event_id"], window)
    write_profile(settings, profile)
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


def publish_catalog(settings: RelaySettings) -> pd.DataFrame:
    """Validate the landed item catalogue and replace the lake's copy atomically."""
    source = catalog_path(settings.landing_dir)
    if not source.exists():
        raise FileNotFoundError(f"no item catalogue at {source}; producers publish it beside the daily logs")
    frame = ItemCatalog.validate(pd.read_parquet(source), lazy=True)
    target = lake.catalog_file(settings)
    atomic.write_parquet(frame, target)
    return frame


def catalog_durations(settings: RelaySettings) -> pd.Series | None:
    """Seconds per item id from the landed catalogue (None before one lands), for the timespent rule."""
    source = catalog_path(settings.landing_dir)
    if not source.exists():
        return None
    catalog = pd.read_parquet(source, columns=["item_id", "duration_s"])
    return catalog.drop_duplicates("item_id").set_index("item_id")["duration_s"]


@dataclass(frozen=True)
class IngestBatch:
    """The verdicts of one run over many partitions, with the accounting summed."""

    verdicts: tuple[PartitionVerdict, ...]

    @property
    def rejected(self) -> tuple[PartitionVerdict, ...]:
        return tuple(v for v in self.verdicts if not v.accepted)

    def total(self, field: str) -> int:
        return sum(getattr(v, field) for v in self.verdicts)


def ingest_days(
    settings: RelaySettings, days: list[str], progress: Callable[[int, int], None] | None = None
) -> IngestBatch:
    """Ingest each day in order (reporting ``progress(done, total)``), then refresh the lake's
    catalogue view, so a day and a multi-year backfill take the same path."""
    verdicts, durations = [], catalog_durations(settings)
    for day in days:
        verdicts.append(ingest_day(settings, day, durations=durations))
        if progress is not None:
            progress(len(verdicts), len(days))
    lake.refresh_catalog(settings)
    return IngestBatch(tuple(verdicts))
