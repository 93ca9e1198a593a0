"""Load the thresholds file (``orchestration/quality_thresholds.yaml``) into plain dicts."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from relay.config import REPO_ROOT

DEFAULT_PATH = REPO_ROOT / "orchestration" / "quality_thresholds.yaml"
REQUIRED = (
    "reference",
    "volume",
    "null_fraction",
    "single_value_share",
    "constant_columns",
    "range_shift",
    "categorical_drift",
    "numeric_drift",
    "unknown_ids",
    "duplicate_rate",
    "late_events",
    "future_timestamps",
    "partial_partition",
)


@lru_cache(maxsize=8)
def load_thresholds(path: Path = DEFAULT_PATH) -> dict[str, dict[str, Any]]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    missing = [name for name in REQUIRED if name not in raw]
    if missing:
        raise ValueError(f"quality thresholds file {path} lacks sections {missing}")
    return {name: dict(raw[name] or {}) for name in REQUIRED}
