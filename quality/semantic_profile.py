"""The semantic half of a partition's profile: who and when, not just how many.

A partition can be well-typed, in range and ordinary in every column's marginal distribution
and still be about the wrong entities (ids remapped through a stale dictionary, another app's
users) or from the wrong time (a repeated day, clicks detached from their impressions). The
numbers here let the semantic rules (``quality.semantic_rules``) see that:

- per-item impressions and clicks, and a histogram of events over hashed user buckets;
- a consistent hash sample of the active users (the same users are sampled every day, so a
  day's sample can be looked up in earlier days' samples);
- a bottom-k MinHash sketch of the (user, item, event type, second of day) multiset, which is
  unchanged when a whole day is replayed with its dates shifted;
- counts of broken relationships between events: clicks without an impression in their
  session, clicks stamped before their impression, timespent beyond N x the item's duration,
  sessions spanning implausible time, and positions outside their session's slate.

Everything is computed once at ingest from the deduplicated rows, and never fails on malformed
data: a part it cannot compute is left out, and its rule passes as "not evaluated".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

USER_BUCKETS = 64
SKETCH_SIZE = 256
USER_SAMPLE_MAX = 20_000
# A click's timespent above this multiple of the item's duration is not a watch of that item.
TIMESPENT_DURATION_FACTOR = 3.0
# A session longer than this is two sessions merged, or a session id reused across the day.
MAX_SESSION_SPAN_S = 6 * 3600.0


def hash_ids(values: pd.Series | np.ndarray) -> np.ndarray:
    """A stable 64-bit hash per value (pandas' SipHash with its fixed default key)."""
    return pd.util.hash_pandas_object(pd.Series(values), index=False).to_numpy(np.uint64)


def user_sample(users: np.ndarray, limit: int = USER_SAMPLE_MAX) -> dict[str, Any]:
    """The users whose hash has its ``shift`` low bits zero, with the smallest shift that keeps at
    most ``limit`` of them, and their events: the same rule on every day, so samples compare."""
    ids, events = np.unique(users, return_counts=True)
    hashes = hash_ids(ids)
    shift = 0
    while int(np.count_nonzero(hashes & np.uint64((1 << shift) - 1) == 0)) > limit:
        shift += 1
    keep = (hashes & np.uint64((1 << shift) - 1)) == 0
    return {"shift": shift, "ids": ids[keep].astype(np.int64).tolist(), "events": events[keep].astype(int).tolist()}


def resample(sample: dict[str, Any], shift: int) -> dict[int, int]:
    """A sample's users (id -> events) thinned to a coarser ``shift`` (never finer than taken at)."""
    ids = np.asarray(sample["ids"], dtype=np.int64)
    if shift < sample["shift"]:
        raise ValueError(f"cannot refine a user sample taken at shift {sample['shift']} to {shift}")
    if ids.size == 0:
        return {}
    keep = (hash_ids(ids) & np.uint64((1 << shift) - 1)) == 0
    return dict(zip(ids[keep].tolist(), np.asarray(sample["events"])[keep].tolist(), strict=True))


def bottom_k(hashes: np.ndarray, k: int = SKETCH_SIZE) -> list[int]:
    """The ``k`` smallest distinct hashes: a MinHash sketch of the set they came from."""
    return [int(h) for h in np.unique(hashes)[:k]]


def sketch_jaccard(a: list[int], b: list[int], k: int = SKETCH_SIZE) -> float:
    """Estimated Jaccard similarity of two sets from their bottom-k sketches."""
    if not a or not b:
        return 0.0
    union = np.unique(np.concatenate([np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)]))[:k]
    both = np.intersect1d(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    return float(np.isin(union, both).sum() / len(union))


def content_sketch(frame: pd.DataFrame) -> list[int]:
    """MinHash of the (user, item, event type, second of day) multiset: the k-th repeat of a
    tuple is its own element, and dates do not enter, so a replayed day matches its original."""
    stamps = pd.to_datetime(frame["ts"], utc=True)
    keys = pd.DataFrame(
        {
            "user_id": frame["user_id"].to_numpy(np.int64),
            "item_id": frame["item_id"].to_numpy(np.int64),
            "event_type": frame["event_type"].astype(str).to_numpy(),
            "second": (stamps.dt.hour * 3600 + stamps.dt.minute * 60 + stamps.dt.second).to_numpy(np.int64),
        }
    )
    keys["repeat"] = keys.groupby(list(keys.columns), sort=False).cumcount()
    return bottom_k(pd.util.hash_pandas_object(keys, index=False).to_numpy(np.uint64))


def item_counts(frame: pd.DataFrame) -> dict[str, list[int]]:
    """Per-item impressions and clicks as parallel lists (items sorted)."""
    kinds = frame["event_type"].astype(str)
    items = np.unique(frame["item_id"].to_numpy(np.int64))
    impressions = frame.loc[kinds == "impression", "item_id"].value_counts().reindex(items, fill_value=0)
    clicks = frame.loc[kinds == "click", "item_id"].value_counts().reindex(items, fill_value=0)
    return {
        "items": items.tolist(),
        "impressions": impressions.astype(int).tolist(),
        "clicks": clicks.astype(int).tolist(),
    }


def user_buckets(users: np.ndarray) -> list[int]:
    """Events per hashed user bucket: a fixed-size view of who the day's traffic is about."""
    return np.bincount(hash_ids(users) % np.uint64(USER_BUCKETS), minlength=USER_BUCKETS).astype(int).tolist()


def relationships(frame: pd.DataFrame, durations: pd.Series | None) -> dict[str, int]:
    """Counts of events whose relationship to other events is impossible (see the module doc)."""
    kinds = frame["event_type"].astype(str)
    stamps = pd.to_datetime(frame["ts"], utc=True)
    events = frame.assign(ts=stamps, event_type=kinds)
    impressions = events.loc[kinds == "impression", ["session_id", "item_id", "ts"]]
    first_shown = impressions.groupby(["session_id", "item_id"], sort=False)["ts"].min().rename("shown_at")
    clicks = events.loc[kinds == "click"].join(first_shown, on=["session_id", "item_id"])
    orphan = clicks["shown_at"].isna()
    counts = {
        "events": len(events),
        "clicks": len(clicks),
        "orphan_clicks": int(orphan.sum()),
        "clicks_before_impression": int((clicks.loc[~orphan, "ts"] < clicks.loc[~orphan, "shown_at"]).sum()),
    }
    if durations is not None:
        duration = clicks["item_id"].map(durations)
        known = duration.notna()
        counts["clicks_with_duration"] = int(known.sum())
        counts["overlong_timespent"] = int(
            (clicks.loc[known, "timespent_s"] > TIMESPENT_DURATION_FACTOR * duration[known]).sum()
        )
    spans = events.groupby("session_id", sort=False)["ts"].agg(["min", "max"])
    counts["sessions"] = len(spans)
    counts["long_sessions"] = int(((spans["max"] - spans["min"]).dt.total_seconds() > MAX_SESSION_SPAN_S).sum())
    slate = impressions.groupby("session_id", sort=False).size().rename("slate")
    sized = events.join(slate, on="session_id")
    counts["positions_outside_slate"] = int((sized["slate"].notna() & (sized["position"] > sized["slate"])).sum())
    return counts


def semantic_profile(deduped: pd.DataFrame, durations: pd.Series | None = None) -> dict[str, Any]:
    """The semantic numbers of one partition; empty when the rows cannot carry them."""
    needed = {"ts", "user_id", "item_id", "event_type", "session_id", "position", "timespent_s"}
    if deduped.empty or not needed <= set(deduped.columns):
        return {}
    try:
        frame = deduped.assign(
            user_id=pd.to_numeric(deduped["user_id"], errors="raise").astype("int64"),
            item_id=pd.to_numeric(deduped["item_id"], errors="raise").astype("int64"),
            position=pd.to_numeric(deduped["position"], errors="raise"),
            timespent_s=pd.to_numeric(deduped["timespent_s"], errors="raise"),
            ts=pd.to_datetime(deduped["ts"], utc=True),
        )
    except (TypeError, ValueError):
        return {}  # the contract rejects such a partition and names the column
    users = frame["user_id"].to_numpy(np.int64)
    return {
        "item_counts": item_counts(frame),
        "user_buckets": user_buckets(users),
        "user_sample": user_sample(users),
        "content_sketch": content_sketch(frame),
        "relationships": relationships(frame, durations),
    }
