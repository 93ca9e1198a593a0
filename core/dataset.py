"""The span of days the data directory's dataset covers, recorded when it lands.

A simulated world and an imported dump end on a known day; a live feed does not. Whoever
lands the data (``relay simulate``, ``relay import``) writes ``<home>/relay.json`` so the
Dagster partitions cover exactly the data: from its first day, and for a bounded dataset up to
its last day instead of up to today (which would show every later day as missing). Without
the file the data is a live feed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

DATASET_FILE = "relay.json"
Kind = Literal["simulated", "historical", "live"]
KINDS: tuple[Kind, ...] = ("simulated", "historical", "live")


@dataclass(frozen=True)
class DatasetSpan:
    """Where the landed data starts and, unless it is a live feed, where it ends."""

    kind: Kind
    first_day: str
    last_day: str | None
    source: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"dataset kind {self.kind!r} is not one of {KINDS}")
        if (self.kind == "live") != (self.last_day is None):
            raise ValueError(f"a {self.kind} dataset {'has no' if self.kind == 'live' else 'needs its'} last day")
        if self.last_day is not None and self.last_day < self.first_day:
            raise ValueError(f"dataset ends {self.last_day}, before it starts {self.first_day}")

    @property
    def bounded(self) -> bool:
        """A simulated world or a historical dump ends on its last day; a live feed keeps going."""
        return self.last_day is not None


def dataset_path(root: Path) -> Path:
    return root / DATASET_FILE


def record_dataset_span(root: Path, span: DatasetSpan) -> Path:
    """Write the span (replacing any earlier record: landing a new dataset redefines it)."""
    root.mkdir(parents=True, exist_ok=True)
    path = dataset_path(root)
    path.write_text(json.dumps(asdict(span), indent=2) + "\n")
    return path


def read_dataset_span(root: Path) -> DatasetSpan | None:
    """The recorded span, or None for a data directory without a record (a live feed).

    A record written before spans were kept (``{"partitions_start", "source"}``) reads as a
    live feed starting on that day: its end was never recorded.
    """
    path = dataset_path(root)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    if "first_day" not in record:
        return DatasetSpan("live", record["partitions_start"], None, record.get("source", "unknown"))
    return DatasetSpan(record["kind"], record["first_day"], record.get("last_day"), record["source"])


def last_partition_day(span: DatasetSpan | None, landed: list[str]) -> str | None:
    """The last daily partition: a bounded dataset's last day, or a later day landed since (a
    simulated world that was extended, a re-delivered day); None while the feed is live."""
    if span is None or span.last_day is None:
        return None
    return max([span.last_day, *landed])


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
