"""Shared fixtures: tiny hand-written frames and isolated data directories.

Every test that writes state gets its own ``RELAY_HOME`` under pytest's tmp_path, so tests
never share a lake, a Feast registry, an MLflow database or a Dagster instance.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.schema import RAW_LOG_COLUMNS, empty_raw_logs
from core.settings import RelaySettings


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RelaySettings:
    home = tmp_path / "var"
    monkeypatch.setenv("RELAY_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    result = RelaySettings(home=home)
    result.ensure_dirs()
    return result


def raw_rows(rows: list[tuple]) -> pd.DataFrame:
    """Raw logs from tuples in ``RAW_LOG_COLUMNS`` order, with the raw-log dtypes."""
    frame = pd.DataFrame(rows, columns=RAW_LOG_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.astype(empty_raw_logs().dtypes.to_dict())


@pytest.fixture
def tiny_raw() -> pd.DataFrame:
    """Six events of one day: two sessions, two clicks."""
    return raw_rows(
        [
            ("e1", "2026-01-05 08:00:00", 1, 10, "impression", 1, 0.5, 0.0, "s1"),
            ("e2", "2026-01-05 08:00:01", 1, 11, "impression", 2, 0.4, 0.0, "s1"),
            ("e3", "2026-01-05 08:00:05", 1, 10, "click", 1, 0.5, 30.0, "s1"),
            ("e4", "2026-01-05 20:00:00", 2, 11, "impression", 1, 0.6, 0.0, "s2"),
            ("e5", "2026-01-05 20:00:01", 2, 12, "impression", 2, 0.3, 0.0, "s2"),
            ("e6", "2026-01-05 20:00:09", 2, 12, "click", 2, 0.3, 12.5, "s2"),
        ]
    )
