"""Named data incidents that corrupt one partition of the simulated world, for demos and tests.

Each incident is what a real feed does on a bad day. Landing incidents rewrite the landing
file (the previous version is kept in ``landing/_superseded``); ``feature_fanout`` corrupts a
stored feature table partition, as a buggy writer appending instead of replacing would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

Corruption = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]


@dataclass(frozen=True)
class Incident:
    name: str
    description: str
    corrupt: Corruption
    target: str = "landing"  # or "user_features"


def _some(frame: pd.DataFrame, rng: np.random.Generator, share: float) -> np.ndarray:
    """Row positions of a random ``share`` of the frame (at least one row)."""
    n = max(1, round(len(frame) * share))
    return np.sort(rng.choice(len(frame), size=min(n, len(frame)), replace=False))


def _missing_column(frame, rng):
    return frame.drop(columns=["item_id"])


def _renamed_column(frame, rng):
    return frame.rename(columns={"item_id": "itemId"})


def _wrong_dtype(frame, rng):
    return frame.assign(position=frame["position"].astype("float64"))


def _strings_in_numeric(frame, rng):
    values = frame["timespent_s"].map(lambda v: f"{v:.1f}").astype(object)
    values.iloc[_some(frame, rng, 0.02)] = "n/a"
    return frame.assign(timespent_s=values)


def _new_enum_value(frame, rng):
    out = frame.copy()
    out.loc[out.index[_some(out, rng, 0.05)], "event_type"] = "add_to_cart"
    return out


def _nan_burst(frame, rng):
    out = frame.copy()
    burst = out["ts"].dt.hour.between(17, 19)
    out.loc[burst, "propensity"] = np.nan
    return out


def _constant_column(frame, rng):
    return frame.assign(position=1)


def _unit_change(frame, rng):
    return frame.assign(timespent_s=frame["timespent_s"] * 1000.0)


def _sentinel_values(frame, rng):
    out = frame.copy()
    out.loc[out.index[_some(out, rng, 0.10)], "item_id"] = 999_999
    return out


def _duplicated_events(frame, rng):
    replays = frame.iloc[_some(frame, rng, 0.05)]
    return pd.concat([frame, replays], ignore_index=True).sort_values("ts", kind="stable").reset_index(drop=True)


def _shift_some(frame, rng, share: float, delta: pd.Timedelta) -> pd.DataFrame:
    out = frame.copy()
    rows = out.index[_some(out, rng, share)]
    out.loc[rows, "ts"] = out.loc[rows, "ts"] + delta
    return out


def _late_events(frame, rng):
    return _shift_some(frame, rng, 0.005, pd.Timedelta(days=-1))


def _future_timestamps(frame, rng):
    return _shift_some(frame, rng, 0.005, pd.Timedelta(days=2))


def _naive_timestamps(frame, rng):
    return frame.assign(ts=frame["ts"].dt.tz_localize(None))


def _wrong_timezone(frame, rng):
    return frame.assign(ts=frame["ts"].dt.tz_convert("America/New_York"))


def _empty_partition(frame, rng):
    return frame.head(0)


def _partial_partition(frame, rng):
    return frame[frame["ts"].dt.hour < 14].reset_index(drop=True)


def _distribution_shift(frame, rng):
    clicks = frame["event_type"] == "click"
    return frame.assign(timespent_s=np.where(clicks, (frame["timespent_s"] * 3.0).round(1), frame["timespent_s"]))


def _swapped_ids(frame, rng):
    return frame.assign(user_id=frame["item_id"], item_id=frame["user_id"])


def _feature_fanout(frame, rng):
    return pd.concat([frame, frame.iloc[_some(frame, rng, 0.10)]], ignore_index=True)


INCIDENTS: dict[str, Incident] = {
    incident.name: incident
    for incident in [
        Incident("missing_column", "the item_id column is gone", _missing_column),
        Incident("renamed_column", "item_id arrives as itemId", _renamed_column),
        Incident("wrong_dtype", "position arrives as float64", _wrong_dtype),
        Incident("strings_in_numeric", "timespent_s arrives as text, with 'n/a' in 2% of rows", _strings_in_numeric),
        Incident("new_enum_value", "5% of events have the unknown type 'add_to_cart'", _new_enum_value),
        Incident("nan_burst", "propensity is NaN for three evening hours", _nan_burst),
        Incident("constant_column", "position is 1 on every row", _constant_column),
        Incident("unit_change", "timespent_s is in milliseconds", _unit_change),
        Incident("sentinel_values", "10% of rows carry the sentinel item_id 999999", _sentinel_values),
        Incident("duplicated_events", "5% of events are delivered twice", _duplicated_events),
        Incident("late_events", "0.5% of events belong to the previous day", _late_events),
        Incident("future_timestamps", "0.5% of events are stamped two days ahead", _future_timestamps),
        Incident("naive_timestamps", "ts has no timezone", _naive_timestamps),
        Incident("wrong_timezone", "ts is in America/New_York instead of UTC", _wrong_timezone),
        Incident("empty_partition", "the file has the schema but no rows", _empty_partition),
        Incident("partial_partition", "the feed stops at 14:00 UTC", _partial_partition),
        Incident(
            "distribution_shift",
            "click timespent silently triples (schema and ranges still valid)",
            _distribution_shift,
        ),
        Incident("swapped_ids", "user_id and item_id are swapped", _swapped_ids),
        Incident(
            "feature_fanout", "user_features gains duplicate keys that fan out joins", _feature_fanout, "user_features"
        ),
    ]
}


def apply_incident(name: str, frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    if name not in INCIDENTS:
        raise KeyError(f"unknown incident {name!r}; known: {', '.join(INCIDENTS)}")
    return INCIDENTS[name].corrupt(frame.reset_index(drop=True), np.random.default_rng(seed))
