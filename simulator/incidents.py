"""Named data incidents that corrupt one partition of the simulated world, for demos and tests.

Each incident is what a real feed does on a bad day. Landing incidents rewrite the landing
file (the previous version is kept in ``landing/_superseded``); ``feature_fanout`` corrupts a
stored feature table partition, as a buggy writer appending instead of replacing would.

The semantic incidents keep every column well-typed, in range and ordinary in its marginal
distribution; they are about the wrong entities or from the wrong time. Some need more than
the day's rows: the catalogue (``needs_catalog``), or the landed partition ``history_days``
earlier, which ``simulator.inject`` reads and passes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

Corruption = Callable[..., pd.DataFrame]  # (frame, rng, [catalog=], [earlier=]) -> the corrupted frame


@dataclass(frozen=True)
class Incident:
    name: str
    description: str
    corrupt: Corruption
    target: str = "landing"  # or "user_features"
    needs_catalog: bool = False  # corrupt() takes catalog= (item_id, category, duration_s)
    history_days: int = 0  # corrupt() takes earlier=, the landed partition this many days before


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


def _constant_feature(frame, rng):
    """A refactor of the 30-day click count returns 0 for everyone: every value is in range."""
    return frame.assign(user_clicks_30d=0)


def _feature_future_leak(frame, rng):
    """The window's upper bound moved a day out: a fifth of the users' last events fall tomorrow."""
    out = frame.copy()
    rows = out.index[_some(out, rng, 0.2)]
    out.loc[rows, "user_last_event_ts"] = out.loc[rows, "user_last_event_ts"] + 86_400.0
    return out


def _feature_window_lag(frame, rng, *, earlier):
    """The 1-day counts are yesterday's: a window off by a day."""
    one_day = ["user_impressions_1d", "user_clicks_1d"]
    yesterday = earlier.set_index("user_id")[one_day]
    lagged = yesterday.reindex(frame["user_id"]).fillna(0).astype("int64").to_numpy()
    return frame.assign(**{column: lagged[:, i] for i, column in enumerate(one_day)})


def _stale_item_dictionary(frame, rng, *, catalog):
    """Every item id maps to the next id of its own category: categories, id set and shares
    are unchanged, but no id means its item any more."""
    mapping = {}
    for _, items in catalog.sort_values("item_id").groupby("category")["item_id"]:
        ids = items.to_numpy()
        mapping.update(zip(ids, np.roll(ids, -1), strict=True))
    return frame.assign(item_id=frame["item_id"].map(mapping).fillna(frame["item_id"]).astype("int64"))


def _repeated_partition(frame, rng, *, earlier):
    """Last week's file re-sent as today's: its rows, dates moved forward, ids made fresh."""
    if earlier.empty:
        raise ValueError("repeated_partition needs a non-empty partition 7 days earlier")
    shift = frame["ts"].dt.normalize().iloc[0] - earlier["ts"].dt.normalize().iloc[0]
    stamp = (earlier["ts"].iloc[0] + shift).strftime("%Y%m%d")
    return earlier.assign(
        ts=earlier["ts"] + shift,
        event_id=[f"r{stamp}-{i:07d}" for i in range(len(earlier))],
        session_id=earlier["session_id"].astype(str) + f"-r{stamp}",
    ).reset_index(drop=True)


def _reused_event_ids(frame, rng, *, earlier):
    """5% of events carry ids already used yesterday (a producer's id counter restarted)."""
    out = frame.copy()
    rows = _some(out, rng, 0.05)[: len(earlier)]
    out.loc[out.index[rows], "event_id"] = earlier["event_id"].to_numpy()[: len(rows)]
    return out


def _detached_clicks(frame, rng):
    """The click logger lost the session: clicks arrive with session ids no impression has."""
    clicks = frame["event_type"] == "click"
    return frame.assign(session_id=np.where(clicks, frame["session_id"].astype(str) + "-click", frame["session_id"]))


def _clicks_clock_skew(frame, rng):
    """The click service's clock runs an hour behind (a daylight-saving bug): clicks now precede
    their impressions. Clicks before 01:00 stay, so the partition's day is still right."""
    late = (frame["event_type"] == "click") & (frame["ts"].dt.hour >= 1)
    return frame.assign(ts=frame["ts"].where(~late, frame["ts"] - pd.Timedelta(hours=1)))


def _background_timespent(frame, rng, *, catalog):
    """5% of clicks count time in a background tab: timespent becomes 10x the item's duration,
    still within the contract's range."""
    out = frame.copy()
    clicks = out.index[out["event_type"] == "click"]
    rows = clicks[_some(out.loc[clicks], rng, 0.05)]
    duration = out.loc[rows, "item_id"].map(catalog.set_index("item_id")["duration_s"])
    out.loc[rows, "timespent_s"] = np.minimum((10.0 * duration).round(1), 86_400.0)
    return out


def _session_per_user(frame, rng):
    """Session ids keyed by user and day (a cookie-less producer): one "session" spans a user's day."""
    day = frame["ts"].dt.strftime("%Y%m%d")
    return frame.assign(session_id="u" + frame["user_id"].astype(str) + "-" + day)


def _positions_beyond_slate(frame, rng):
    """A pager bug logs 10% of slates as the next page: positions 11-20 on slates of 10."""
    sessions = frame["session_id"].unique()
    paged = set(rng.choice(sessions, size=max(1, len(sessions) // 10), replace=False))
    shifted = frame["session_id"].isin(paged)
    width = int(frame["position"].max())
    return frame.assign(position=frame["position"].where(~shifted, frame["position"] + width))


def _foreign_user_ids(frame, rng):
    """Another app's user ids land in this feed: every id is valid, none is one of our users."""
    return frame.assign(user_id=frame["user_id"] + 10_000_000)


def _rotated_user_ids(frame, rng):
    """User ids rotated by half the id range (an off-by-N join): all are known users, the wrong ones."""
    n = int(frame["user_id"].max())
    return frame.assign(user_id=(frame["user_id"] - 1 + n // 2) % n + 1)


def _crawler_traffic(frame, rng):
    """Five known users' accounts run a crawler: each adds impressions worth 10% of the day, in
    slates of 10 consecutive impressions, so no single id dominates a column and every row is
    well formed."""
    impressions = frame[frame["event_type"] == "impression"].sort_values("ts", kind="stable")
    bots = rng.choice(frame["user_id"].unique(), size=5, replace=False)
    slates = max(1, round(len(frame) * 0.10 / 10))
    copies = []
    for bot in bots:
        starts = rng.integers(0, max(1, len(impressions) - 10), size=slates)
        rows = impressions.iloc[(starts[:, None] + np.arange(10)).ravel() % len(impressions)]
        copies.append(
            rows.assign(
                user_id=bot,
                position=np.tile(np.arange(1, 11), slates),
                session_id=np.repeat([f"crawl-{bot}-{k}" for k in range(slates)], 10),
                event_id=[f"crawl-{bot}-{i}" for i in range(len(rows))],
            )
        )
    return pd.concat([frame, *copies], ignore_index=True).sort_values("ts", kind="stable").reset_index(drop=True)


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
        Incident(
            "constant_feature",
            "user_clicks_30d is 0 for every user after a code change",
            _constant_feature,
            "user_features",
        ),
        Incident(
            "feature_future_leak",
            "a fifth of user_last_event_ts fall on the next day",
            _feature_future_leak,
            "user_features",
        ),
        Incident(
            "feature_window_lag",
            "the 1-day user counts are the previous day's",
            _feature_window_lag,
            "user_features",
            history_days=1,
        ),
        Incident(
            "stale_item_dictionary",
            "item ids remapped through a stale dictionary within each category",
            _stale_item_dictionary,
            needs_catalog=True,
        ),
        Incident(
            "repeated_partition",
            "the partition repeats the rows of 7 days earlier, dates shifted",
            _repeated_partition,
            history_days=7,
        ),
        Incident(
            "reused_event_ids", "5% of event ids were already stored yesterday", _reused_event_ids, history_days=1
        ),
        Incident("detached_clicks", "clicks carry session ids no impression has", _detached_clicks),
        Incident("clicks_clock_skew", "click timestamps are an hour early", _clicks_clock_skew),
        Incident(
            "background_timespent",
            "5% of clicks report 10x the item's duration",
            _background_timespent,
            needs_catalog=True,
        ),
        Incident("session_per_user", "session ids are per user and day", _session_per_user),
        Incident("positions_beyond_slate", "10% of slates are logged as the next page", _positions_beyond_slate),
        Incident("foreign_user_ids", "user ids come from another app's id space", _foreign_user_ids),
        Incident("rotated_user_ids", "user ids are rotated by half the id range", _rotated_user_ids),
        Incident("crawler_traffic", "five accounts add 10% of the day's events each", _crawler_traffic),
    ]
}


def apply_incident(
    name: str,
    frame: pd.DataFrame,
    seed: int = 0,
    catalog: pd.DataFrame | None = None,
    earlier: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Corrupt ``frame``; ``catalog`` and ``earlier`` are required by the incidents that need them."""
    if name not in INCIDENTS:
        raise KeyError(f"unknown incident {name!r}; known: {', '.join(INCIDENTS)}")
    incident = INCIDENTS[name]
    context: dict[str, pd.DataFrame] = {}
    if incident.needs_catalog:
        if catalog is None:
            raise ValueError(f"incident {name} needs the item catalogue")
        context["catalog"] = catalog
    if incident.history_days:
        if earlier is None:
            raise ValueError(f"incident {name} needs the partition {incident.history_days} days earlier")
        context["earlier"] = earlier.reset_index(drop=True)
    return incident.corrupt(frame.reset_index(drop=True), np.random.default_rng(seed), **context)
