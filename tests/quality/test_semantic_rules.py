"""Semantic rules and their profile part, on hand-made inputs with exact expected values."""

import numpy as np
import pandas as pd
import pytest

from quality import semantic_rules as sr
from quality.semantic_profile import (
    content_sketch,
    relationships,
    resample,
    semantic_profile,
    sketch_jaccard,
    user_sample,
)
from quality.thresholds import load_thresholds
from simulator.incidents import apply_incident

T = load_thresholds()
DAY = "2026-01-10"


def events(rows: list[tuple]) -> pd.DataFrame:
    """(session, user, item, type, position, "HH:MM:SS", timespent) rows on DAY."""
    columns = ["session_id", "user_id", "item_id", "event_type", "position", "t", "timespent_s"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(DAY + " " + frame.pop("t")).dt.tz_localize("UTC")
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    frame["propensity"] = 0.5
    return frame


GOOD = [
    ("s1", 1, 10, "impression", 1, "08:00:00", 0.0),
    ("s1", 1, 11, "impression", 2, "08:00:01", 0.0),
    ("s1", 1, 11, "click", 2, "08:00:09", 30.0),
]


def test_relationships_count_each_impossible_relation_once():
    frame = events(
        [
            *GOOD,
            ("s2", 2, 12, "impression", 1, "09:00:00", 0.0),
            ("s2", 2, 13, "click", 1, "09:00:05", 10.0),  # orphan: 13 was never shown in s2
            ("s3", 3, 14, "impression", 1, "10:00:00", 0.0),
            ("s3", 3, 14, "click", 1, "09:59:00", 10.0),  # before its impression
            ("s4", 4, 15, "impression", 1, "01:00:00", 0.0),
            ("s4", 4, 15, "impression", 3, "08:00:00", 0.0),  # 7 h after the first; position 3 of 2
        ]
    )
    durations = pd.Series({11: 100.0, 13: 100.0, 14: 2.0})  # 14's 10 s click is 5x its duration
    assert relationships(frame, durations) == {
        "events": 9,
        "clicks": 3,
        "orphan_clicks": 1,
        "clicks_before_impression": 1,
        "clicks_with_duration": 3,
        "overlong_timespent": 1,
        "sessions": 4,
        "long_sessions": 1,
        "positions_outside_slate": 1,
    }


def test_a_replayed_day_has_the_same_content_sketch_and_a_different_day_does_not():
    frame = events(GOOD)
    shifted = frame.assign(ts=frame["ts"] + pd.Timedelta(days=7), event_id=["x", "y", "z"])
    other = frame.assign(user_id=frame["user_id"] + 1)
    assert content_sketch(shifted) == content_sketch(frame)
    assert sketch_jaccard(content_sketch(frame), content_sketch(shifted)) == 1.0
    assert sketch_jaccard(content_sketch(frame), content_sketch(other)) == 0.0


def test_sketch_jaccard_estimates_from_the_union_bottom_k():
    assert sketch_jaccard([1, 2, 3, 4], [3, 4, 5, 6], k=4) == 0.5  # union bottom 4: 1,2,3,4; both: 3,4
    assert sketch_jaccard([], [1], k=4) == 0.0


def test_user_sample_is_the_same_rule_every_day_and_thins_consistently():
    users = np.arange(1, 2001)
    full = user_sample(np.repeat(users, 2))
    assert full["shift"] == 0 and len(full["ids"]) == 2000 and set(full["events"]) == {2}
    thin = user_sample(users, limit=600)
    assert thin["shift"] == 2  # 2000 ids halve twice to about 500
    assert set(resample(full, 2)) == set(thin["ids"])
    with pytest.raises(ValueError, match="cannot refine"):
        resample(thin, 0)


def semantic(day: str, **part) -> dict:
    return {"date": day, "rows": 100, "semantic": part}


def test_item_popularity_fails_when_ids_stop_meaning_their_items():
    items = list(range(1, 31))
    counts = {"items": items, "impressions": [10 * i for i in items], "clicks": [i for i in items]}
    reference = [semantic("2026-01-09", item_counts=counts)]
    same = sr.item_popularity(semantic(DAY, item_counts=counts), reference, T)
    assert same.passed and same.metrics["spearman_popularity"] == pytest.approx(1.0)
    reversed_ = {k: v[::-1] if k != "items" else v for k, v in counts.items()}
    broken = sr.item_popularity(semantic(DAY, item_counts=reversed_), reference, T)
    assert not broken.passed and broken.column == "item_id"
    assert broken.metrics["spearman_popularity"] == pytest.approx(-1.0)
    assert broken.description.startswith(f"partition {DAY}: column item_id: per-item popularity rank correlation")


def test_jensen_shannon_is_zero_for_equal_and_one_for_disjoint_histograms():
    assert sr.jensen_shannon(np.array([1.0, 3.0]), np.array([2.0, 6.0])) == 0.0
    assert sr.jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 5.0])) == pytest.approx(1.0)


def test_user_distribution_limit_follows_the_reference_days_own_noise():
    flat = [100] * 4
    reference = [semantic(d, user_buckets=flat) for d in ("2026-01-07", "2026-01-08", "2026-01-09")]
    assert sr.user_distribution(semantic(DAY, user_buckets=flat), reference, T).passed
    moved = sr.user_distribution(semantic(DAY, user_buckets=[400, 0, 0, 0]), reference, T)
    assert not moved.passed and moved.metrics["reference_noise_js"] == 0.0
    assert moved.metrics["allowed_js"] == T["user_distribution"]["max_js"]


def sample(ids: list[int], events: list[int]) -> dict:
    return {"shift": 0, "ids": ids, "events": events}


def test_active_users_and_user_activity_on_a_hand_made_sample():
    ids = list(range(1, 41))
    reference = [semantic(f"2026-01-0{d}", user_sample=sample(ids, ids)) for d in range(1, 8)]  # u: u events a day
    steady = sr.user_activity(semantic(DAY, user_sample=sample(ids, ids)), reference, T)
    assert steady.passed and steady.metrics["spearman_activity"] == pytest.approx(1.0)
    assert steady.metrics["z"] == pytest.approx(np.sqrt(39))
    rotated = sr.user_activity(semantic(DAY, user_sample=sample(ids, ids[::-1])), reference, T)
    assert not rotated.passed and rotated.column == "user_id"
    early = sr.user_activity(semantic(DAY, user_sample=sample(ids, ids[::-1])), reference[:6], T)
    assert early.passed and early.metrics == {"evaluated": 0}  # six days of history rank users by chance
    foreign = sr.active_users(semantic(DAY, user_sample=sample([i + 1000 for i in ids], ids)), reference, T)
    assert not foreign.passed and foreign.metrics["seen_share"] == 0.0
    assert sr.active_users(semantic(DAY, user_sample=sample(ids, ids)), reference, T).metrics["seen_share"] == 1.0


def test_repeated_partition_names_the_partition_it_repeats():
    frame = events(GOOD)
    reference = [semantic("2026-01-03", content_sketch=content_sketch(frame))]
    result = sr.repeated_partition(semantic(DAY, content_sketch=content_sketch(frame)), reference, T)
    assert not result.passed and result.metrics["most_similar_partition"] == "2026-01-03"
    assert "content repeats partition 2026-01-03" in result.description


def test_reused_event_ids_is_a_rate_over_rows():
    assert sr.reused_event_ids({"date": DAY, "rows": 100, "stored_elsewhere": 0}, [], T).passed
    reused = sr.reused_event_ids({"date": DAY, "rows": 100, "stored_elsewhere": 5}, [], T)
    assert not reused.passed and reused.metrics["rate"] == 0.05 and reused.column == "event_id"


def test_relationship_rules_read_their_counts():
    counts = {"events": 10, "clicks": 4, "orphan_clicks": 1, "sessions": 2, "long_sessions": 0}
    orphans = sr.orphan_clicks(semantic(DAY, relationships=counts), [], T)
    assert not orphans.passed and orphans.metrics["rate"] == 0.25 and orphans.column == "session_id"
    assert sr.long_sessions(semantic(DAY, relationships=counts), [], T).passed
    missing = sr.overlong_timespent(semantic(DAY, relationships=counts), [], T)
    assert missing.passed and missing.metrics == {"evaluated": 0}


def test_semantic_profile_is_empty_for_rows_the_contract_rejects():
    assert semantic_profile(events(GOOD).assign(user_id="n/a")) == {}
    assert semantic_profile(events(GOOD).drop(columns="session_id")) == {}
    assert set(semantic_profile(events(GOOD))) == {
        "item_counts",
        "user_buckets",
        "user_sample",
        "content_sketch",
        "relationships",
    }


def test_semantic_incidents_on_a_hand_made_day():
    frame = events(GOOD)
    catalog = pd.DataFrame({"item_id": [10, 11, 12], "category": [0, 0, 1], "duration_s": [5.0, 6.0, 7.0]})
    stale = apply_incident("stale_item_dictionary", frame, catalog=catalog)
    assert stale["item_id"].tolist() == [11, 10, 10]  # 10 <-> 11 within category 0
    earlier = frame.assign(ts=frame["ts"] - pd.Timedelta(days=7))
    repeated = apply_incident("repeated_partition", frame, earlier=earlier)
    assert repeated["ts"].tolist() == frame["ts"].tolist() and not set(repeated["event_id"]) & set(frame["event_id"])
    detached = apply_incident("detached_clicks", frame)
    assert detached["session_id"].tolist() == ["s1", "s1", "s1-click"]
    skewed = apply_incident("clicks_clock_skew", frame)
    assert skewed["ts"].iloc[2] == frame["ts"].iloc[2] - pd.Timedelta(hours=1)
    with pytest.raises(ValueError, match="needs the item catalogue"):
        apply_incident("background_timespent", frame)
