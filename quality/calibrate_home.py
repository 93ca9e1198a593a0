"""Calibrate a data directory's thresholds from the partition profiles stored in its lake.

The floor is always the repository's ``quality/thresholds.yaml``, never the home file being
replaced: a refit must not ratchet on an earlier fit's widened values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core import lake
from core.settings import RelaySettings
from quality.calibrate import Budget, Calibration, Feed, calibrate
from quality.calibration_file import write_fitted
from quality.records import read_profiles
from quality.thresholds import load_thresholds


def home_feed(settings: RelaySettings) -> Feed:
    """The stored profiles; usable (reference) days are those the contract accepted or an override
    accepted, normal (fit) days those the contract accepted alone. Failed statistical checks are
    ignored here: their verdicts came from the thresholds being replaced."""
    profiles = read_profiles(settings)
    if not profiles:
        return Feed({})
    with lake.connect(settings) as con:
        rows = con.execute("SELECT date, accepted, overridden FROM partition_status").fetchall()
    usable = frozenset(day for day, accepted, overridden in rows if accepted or overridden)
    normal = frozenset(day for day, accepted, overridden in rows if accepted and not overridden)
    return Feed(profiles, usable, normal)


def calibrate_home(
    settings: RelaySettings, budget: Budget, until: str | None = None, source: str = "relay quality calibrate"
) -> tuple[Calibration, Path]:
    """Fit on the ``budget.weeks`` weeks up to ``until`` (default: the last normal day) and write
    ``<home>/quality_thresholds.yaml``."""
    feed = home_feed(settings)
    normal_days = [day for day in sorted(feed.profiles) if feed.is_normal(day)]
    if not normal_days:
        raise ValueError(f"no ingested partition to calibrate on in {settings.root}; ingest the feed first")
    end = until or normal_days[-1]
    calibration = calibrate(feed, load_thresholds(), end, budget)
    if not calibration.fit_days:
        raise ValueError(f"no ingested partition in the {budget.weeks} weeks up to {end}")
    fitted_at = datetime.now(UTC).isoformat(timespec="seconds")
    return calibration, write_fitted(settings.root, calibration, fitted_at, source)
