"""Partition days are ISO dates, checked where a day becomes a path.

A day string names a file (``landing/raw_logs/<day>.parquet``) or a folder (``date=<day>``), so
anything but ``YYYY-MM-DD`` (``../../victim``, a NUL byte) could read or write outside the data
directory. Every path built from a day goes through ``iso_day``.
"""

from __future__ import annotations

from datetime import date


def iso_day(value: str) -> str:
    """``value`` if it is exactly an ISO date (YYYY-MM-DD); ValueError naming it otherwise."""
    try:
        if len(value) == 10 and date.fromisoformat(value).isoformat() == value:
            return value
    except (TypeError, ValueError):
        pass
    shown = value if len(str(value)) <= 40 else f"{str(value)[:40]}..."
    raise ValueError(f"partition day {shown!r} is not an ISO date (YYYY-MM-DD)")
