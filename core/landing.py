"""Daily raw-log partitions in the landing folder: one producer parquet per day, plus serving's
feedback files under ``landing/served/date=D/`` (read together by ``read_landed_day``)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import atomic
from core.days import iso_day


def partition_path(landing_dir: Path, day: date | str) -> Path:
    return landing_dir / f"{iso_day(day) if isinstance(day, str) else day.isoformat()}.parquet"


def write_partition(landing_dir: Path, day: date | str, frame: pd.DataFrame) -> Path:
    """Write one day atomically (temp file, then rename) so readers never see half a file.

    A file that is re-delivered never destroys the previous delivery: it moves to
    ``landing/_superseded/`` with a timestamp, because nothing is ever deleted from landing.
    """
    landing_dir.mkdir(parents=True, exist_ok=True)
    target = partition_path(landing_dir, day)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic.atomic_path(target) as tmp:
        pq.write_table(table, tmp)
        if target.exists():  # a hard link keeps the old delivery; the day is never missing, even if killed here
            keep = superseded_dir(landing_dir)
            keep.mkdir(parents=True, exist_ok=True)
            os.link(target, keep / f"{target.stem}.{datetime.now(UTC):%Y%m%dT%H%M%S%f}.parquet")
    return target


def read_partition(landing_dir: Path, day: date | str) -> pd.DataFrame:
    path = partition_path(landing_dir, day)
    if not path.exists():
        raise FileNotFoundError(f"landing partition {path.stem} is missing: expected {path}")
    return pd.read_parquet(path)


def served_day_dir(served_dir: Path, day: date | str) -> Path:
    """Where serving's feedback log lands the impressions it served on ``day``."""
    return served_dir / f"date={day if isinstance(day, str) else day.isoformat()}"


def served_files(served_dir: Path, day: date | str) -> list[Path]:
    return sorted(served_day_dir(served_dir, day).glob("*.parquet"))


def read_landed_day(landing_dir: Path, served_dir: Path, day: date | str) -> pd.DataFrame:
    """Everything that landed for ``day``: the producers' partition plus serving's feedback files."""
    frames = [read_partition(landing_dir, day), *(pd.read_parquet(path) for path in served_files(served_dir, day))]
    frames = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def landed_days(landing_dir: Path) -> list[str]:
    return sorted(p.stem for p in landing_dir.glob("*.parquet"))


def superseded_dir(landing_dir: Path) -> Path:
    return landing_dir.parent / "_superseded" / landing_dir.name


def catalog_path(landing_dir: Path) -> Path:
    """The item catalogue producers publish beside the daily logs (replaced as a whole)."""
    return landing_dir.parent / "catalog" / "items.parquet"


def write_catalog(landing_dir: Path, frame: pd.DataFrame) -> Path:
    target = catalog_path(landing_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        keep = superseded_dir(landing_dir).parent / "catalog"
        keep.mkdir(parents=True, exist_ok=True)
        os.replace(target, keep / f"items.{datetime.now(UTC):%Y%m%dT%H%M%S%f}.parquet")
    atomic.write_parquet(frame, target)
    return target
