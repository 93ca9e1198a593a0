"""Load the thresholds file (``quality/thresholds.yaml``) into plain dicts."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from quality.all_rules import RULES

DEFAULT_PATH = Path(__file__).resolve().parent / "thresholds.yaml"
REQUIRED = ("reference", *RULES)


@lru_cache(maxsize=8)
def load_thresholds(path: Path = DEFAULT_PATH) -> dict[str, dict[str, Any]]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    missing = [name for name in REQUIRED if name not in raw]
    if missing:
        raise ValueError(f"quality thresholds file {path} lacks sections {missing}")
    return {name: dict(raw[name] or {}) for name in REQUIRED}


def thresholds_for(settings) -> dict[str, dict[str, Any]]:
    """The repository's thresholds, with ``<home>/quality_thresholds.yaml`` (if any) laid over them
    section by section: one deployment's feed may be burstier than another's."""
    merged = {name: dict(values) for name, values in load_thresholds().items()}
    override = settings.root / "quality_thresholds.yaml"
    if override.exists():
        raw = yaml.safe_load(override.read_text()) or {}
        unknown = set(raw) - set(REQUIRED)
        if unknown:
            raise ValueError(f"{override}: unknown sections {sorted(unknown)}")
        for name, values in raw.items():
            merged[name].update(values or {})
    return merged


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BY_WEEKDAY = "by_weekday"


def on_day(thresholds: dict[str, dict[str, Any]], day: str) -> dict[str, dict[str, Any]]:
    """The thresholds in force on ``day``: a section's ``by_weekday: {mon: {...}, ...}`` (written by
    ``relay quality calibrate`` for rules fitted per weekday) laid over its plain values."""
    weekday = WEEKDAYS[date.fromisoformat(day).weekday()]
    resolved = {}
    for name, section in thresholds.items():
        overlay = (section.get(BY_WEEKDAY) or {}).get(weekday) or {}
        resolved[name] = {**section, **overlay} if overlay else section
    return resolved
