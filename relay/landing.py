"""Writing and reading daily raw-log partitions in the landing folder (one parquet per day)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def partition_path(landing_dir: Path, day: date | str) -> Path:
    return landing_dir / f"{day if isinstance(day, str) else day.isoformat()}.parquet"


def write_partition(landing_dir: Path, day: date | str, frame: pd.DataFrame) -> Path:
    """Write one day atomically (temp file, then rename) so readers never see half a file."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    target = partition_path(landing_dir, day)
    tmp = target.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    os.replace(tmp, target)
    return target


def read_partition(landing_dir: Path, day: date | str) -> pd.DataFrame:
    path = partition_path(landing_dir, day)
    if not path.exists():
        raise FileNotFoundError(f"landing partition {path.stem} is missing: expected {path}")
    return pd.read_parquet(path)


def landed_days(landing_dir: Path) -> list[str]:
    return sorted(p.stem for p in landing_dir.glob("*.parquet"))
