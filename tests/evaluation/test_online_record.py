"""The online record of served versions on hand-written served days: exact counts and ratios, the
next-day return rate, the session-id parser, storage, and the proxy-up-goal-down rule."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evaluation.online_record import (
    OnlineRecord,
    VersionRecord,
    divergences,
    history_chart,
    online_record,
    proxy_up_goal_down,
    read_history,
    read_served_day,
    served_version,
    write_record,
)
from serving.feedback import ImpressionLog
from tests.conftest import raw_rows

DAY = "2026-01-05"


def served_day() -> pd.DataFrame:
    """v3 serves users 1 (two slates, two clicks) and 2 (no click); v4 serves user 3 (two clicks);
    two rows name no version (a producer's session and a pre-versioning served one)."""
    rows = [
        ("a1", "2026-01-05 08:00:00", 1, 10, "impression", 1, 0.5, 0.0, "srv-v3-r1"),
        ("a2", "2026-01-05 08:00:00", 1, 11, "impression", 2, 0.3, 0.0, "srv-v3-r1"),
        ("a3", "2026-01-05 08:00:00", 1, 12, "impression", 3, 0.2, 0.0, "srv-v3-r1"),
        ("a4", "2026-01-05 08:00:09", 1, 10, "click", 1, 0.5, 30.0, "srv-v3-r1"),
        ("b1", "2026-01-05 09:00:00", 2, 10, "impression", 1, 0.6, 0.0, "srv-v3-r2"),
        ("b2", "2026-01-05 09:00:00", 2, 13, "impression", 2, 0.4, 0.0, "srv-v3-r2"),
        ("c1", "2026-01-05 12:00:00", 1, 14, "impression", 1, 0.7, 0.0, "srv-v3-r3"),
        ("c2", "2026-01-05 12:00:00", 1, 15, "impression", 2, 0.3, 0.0, "srv-v3-r3"),
        ("c3", "2026-01-05 12:00:05", 1, 15, "click", 2, 0.3, 10.0, "srv-v3-r3"),
        ("d1", "2026-01-05 13:00:00", 3, 10, "impression", 1, 0.9, 0.0, "srv-v4-r4"),
        ("d2", "2026-01-05 13:00:00", 3, 16, "impression", 2, 0.1, 0.0, "srv-v4-r4"),
        ("d3", "2026-01-05 13:00:04", 3, 10, "click", 1, 0.9, 20.0, "srv-v4-20260105-s000004"),  # an outcome
        ("d4", "2026-01-05 13:00:30", 3, 16, "click", 2, 0.1, 40.0, "srv-v4-r4"),
        ("p1", "2026-01-05 14:00:00", 9, 10, "impression", 1, 0.5, 0.0, "s-producer"),
        ("o1", "2026-01-05 15:00:00", 8, 10, "impression", 1, 0.5, 0.0, "srv-r9"),
    ]
    return raw_rows(rows)


def next_day(users: list[int]) -> pd.DataFrame:
    return raw_rows(
        [
            (f"n{u}", "2026-01-06 10:00:00", u, 10, "impression", 1, 0.5, 0.0, f"srv-v{4 if u == 1 else 3}-n{u}")
            for u in users
        ]
    )


def test_each_version_gets_its_exact_proxy_and_goal():
    record = online_record(served_day(), next_day([1, 3, 7]))
    assert record.unattributed_rows == 2 and record.next_day_landed
    assert record.version(3) == VersionRecord(
        version=3,
        impressions=7,
        sessions=3,
        users=2,
        clicks=2,
        ctr=2 / 7,
        clicks_per_user=1.0,
        timespent_per_user=20.0,
        next_day_return_rate=0.5,  # user 1 came back (served by v4: any served event counts)
    )
    assert record.version(4) == VersionRecord(4, 2, 1, 1, 2, 1.0, 2.0, 60.0, 1.0)
    assert record.version(5) is None


def test_the_return_rate_waits_for_the_next_day_and_is_zero_when_nobody_returns():
    pending = online_record(served_day(), None)
    assert not pending.next_day_landed
    assert [v.next_day_return_rate for v in pending.versions] == [None, None]
    nobody = online_record(served_day(), next_day([2])).version(4)
    assert nobody is not None and nobody.next_day_return_rate == 0.0


def test_as_frame_has_one_typed_row_per_version():
    frame = online_record(served_day(), None).as_frame()
    assert frame["version"].tolist() == [3, 4]
    assert frame["impressions"].dtype == "int64" and frame["next_day_return_rate"].isna().all()
    assert frame.loc[0, "ctr"] == pytest.approx(2 / 7)
    assert OnlineRecord((), 0, False).as_frame().columns.tolist() == frame.columns.tolist()


@pytest.mark.parametrize(
    ("session_id", "version"),
    [
        ("srv-v3-r1", 3),
        ("srv-v12-1767600000000000000-42", 12),
        ("srv-v4-20260105-s000004", 4),  # the simulator's outcome sessions
        ("srv-r1", None),  # served before slates named their version
        ("srv-v-r1", None),
        ("s1", None),
        ("xsrv-v3-r1", None),
    ],
)
def test_served_version_parses_only_versioned_sessions(session_id, version):
    assert served_version(session_id) == version


def test_what_the_impression_log_writes_is_recorded_under_its_version(tmp_path):
    log = ImpressionLog(tmp_path / "served")
    at = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    log.record("r1", 7, [11, 12, 13], [0.5, 0.3, 0.2], at, model_version=5)
    log.record("r2", 8, [11], [1.0], at, model_version=6)
    log.flush()
    day = read_served_day(tmp_path / "served", DAY)
    assert day is not None and day["event_id"].str.startswith("srv-v").all()
    record = online_record(day, read_served_day(tmp_path / "served", "2026-01-06"))
    assert [(v.version, v.impressions, v.sessions, v.users) for v in record.versions] == [(5, 3, 1, 1), (6, 1, 1, 1)]
    assert not record.next_day_landed and record.unattributed_rows == 0


def test_records_are_stored_per_day_and_read_back_in_order(tmp_path):
    write_record(tmp_path, "2026-01-06", online_record(served_day(), None))
    write_record(tmp_path, DAY, online_record(served_day(), next_day([1])))
    write_record(tmp_path, DAY, online_record(served_day(), next_day([1, 3])))  # re-recorded: replaced
    history = read_history(tmp_path, through="2026-01-06")
    assert list(zip(history["date"], history["version"], strict=True)) == [
        (DAY, 3),
        (DAY, 4),
        ("2026-01-06", 3),
        ("2026-01-06", 4),
    ]
    assert history["next_day_return_rate"].iloc[:2].tolist() == [0.5, 1.0]
    assert math.isnan(history["next_day_return_rate"].iloc[2])
    assert read_history(tmp_path, through=DAY)["date"].unique().tolist() == [DAY]
    assert read_history(tmp_path / "none", through=DAY).empty
    assert history_chart(history).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("proxy", "goal", "warned"),
    [
        ((1.0, 1.2), (30.0, 25.0), True),
        ((1.0, 1.2), (30.0, 31.0), False),  # both rose
        ((1.0, 0.9), (30.0, 25.0), False),  # both fell
        ((1.0, 1.005), (30.0, 25.0), False),  # the proxy moved by less than 1%
        ((1.0, 1.2), (30.0, 29.8), False),  # so did the goal
        ((0.0, 0.5), (10.0, 5.0), True),  # from no clicks at all
    ],
)
def test_proxy_up_goal_down_on_hand_made_numbers(proxy, goal, warned):
    assert proxy_up_goal_down(proxy[0], proxy[1], goal[0], goal[1]) is warned


def test_a_version_is_compared_with_its_own_previous_recorded_day():
    history = pd.DataFrame(
        {
            "date": ["2026-01-05", "2026-01-05", "2026-01-06", "2026-01-07", "2026-01-07"],
            "version": [3, 4, 3, 3, 4],
            "clicks_per_user": [1.0, 2.0, 1.2, 1.3, 2.5],
            "timespent_per_user": [30.0, 60.0, 25.0, 26.0, 50.0],
        }
    )
    (v3,) = divergences(history, "2026-01-06")
    assert (v3.version, v3.previous_day, v3.proxy, v3.goal) == (3, "2026-01-05", (1.0, 1.2), (30.0, 25.0))
    assert "clicks_per_user 1 -> 1.2 but timespent_per_user 30 -> 25" in v3.message()
    (v4,) = divergences(history, "2026-01-07")  # v3 recovered its goal; v4 was off on the 6th
    assert (v4.version, v4.previous_day) == (4, "2026-01-05")
    assert divergences(history, "2026-01-05") == ()  # nothing recorded before
