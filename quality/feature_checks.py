"""Feature-level checks beyond the contract: a stored feature table that is valid row by row but
broken as a whole.

- a feature a code change made constant for every entity (against the table's own history);
- a user window that leaks the future: a last event stamped after the partition's day;
- a user window off by a day: the 1-day counts do not add up to the day's accepted events.

A contract cannot see any of them: every value is in range.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from core import lake
from core.settings import RelaySettings
from feature_repo.tables import USER_FEATURES, table_specs
from quality.contracts import partition_window
from quality.records import write_check_result
from quality.rule_result import RuleResult, failed, passed

HISTORY_DAYS = 7  # how far back the previous partitions are looked for
MIN_HISTORY = 3  # fewer previous partitions: not evaluated
MIN_DAY_EVENTS = 100  # a day with fewer accepted events can make its 1-day features constant by itself
MIN_VALUES = 20  # a feature with fewer non-null values today can share one value by chance


def constant_features(frame: pd.DataFrame, history: list[pd.DataFrame], features: list[str]) -> list[str]:
    """Features with one value on every row of ``frame`` that had several values in every ``history``
    frame. Nulls do not count as a value: a ratio is null only where its denominator is 0."""
    return [
        name
        for name in features
        if name in frame.columns
        and frame[name].count() >= MIN_VALUES
        and frame[name].nunique() == 1
        and all(name in past.columns and past[name].nunique() > 1 for past in history)
    ]


def _day_events(settings: RelaySettings, days: list[str]) -> dict[str, int]:
    with lake.connect(settings) as con:
        rows = con.execute(
            "SELECT date, count(*) FROM accepted_events WHERE list_contains($days, date) GROUP BY date", {"days": days}
        ).fetchall()
    return {day: int(n) for day, n in rows}


def _previous_partitions(directory, day: str) -> list[pd.DataFrame]:
    frames = []
    for back in range(1, HISTORY_DAYS + 1):
        path = lake.partition_dir(directory, (date.fromisoformat(day) - timedelta(days=back)).isoformat())
        if (path / "part.parquet").exists():
            frames.append(pd.read_parquet(path / "part.parquet"))
    return frames


def check_constant_features(settings: RelaySettings, table: str, days: list[str]) -> list[tuple[str, RuleResult]]:
    """Judge each stored partition of ``table`` and persist the result (a blocking check)."""
    directory = settings.features_dir / table
    features, events = [spec.name for spec in table_specs(table)], _day_events(settings, days)
    results = []
    for day in days:
        path = lake.partition_dir(directory, day) / "part.parquet"
        history = _previous_partitions(directory, day)
        if not path.exists():
            result = failed(day, None, f"{table} has no stored partition", {})
        elif events.get(day, 0) < MIN_DAY_EVENTS:
            result = passed(day, f"not evaluated: {events.get(day, 0)} accepted events < {MIN_DAY_EVENTS}", {})
        elif len(history) < MIN_HISTORY:
            result = passed(day, f"not evaluated: {len(history)} earlier {table} partitions < {MIN_HISTORY}", {})
        else:
            frame = pd.read_parquet(path)
            constant = constant_features(frame, history, features)
            metrics = {"rows": len(frame), "history_partitions": len(history), "constant": ", ".join(constant)}
            if constant:
                value = frame[constant[0]].dropna().iloc[0]
                result = failed(
                    day,
                    constant[0],
                    f"{table}.{constant[0]} is {value} for all {len(frame)} rows but varied in each of the "
                    f"{len(history)} previous partitions (a code change that broke the feature?)",
                    metrics,
                )
            else:
                result = passed(day, f"no {table} feature became constant", metrics)
        write_check_result(settings, table, f"check_{table}_constant_features", day, result)
        results.append((day, result))
    return results


def _user_partition(settings: RelaySettings, day: str) -> pd.DataFrame | None:
    path = lake.partition_dir(settings.features_dir / USER_FEATURES, day) / "part.parquet"
    return pd.read_parquet(path) if path.exists() else None


def future_leak(frame: pd.DataFrame, day: str) -> tuple[int, float]:
    """(rows whose last event is at or after the end of ``day``, the latest such stamp in seconds)."""
    end = partition_window(day)[1].timestamp()
    late = frame["user_last_event_ts"].dropna()
    late = late[late >= end]
    return len(late), float(late.max()) if len(late) else float("nan")


def check_user_window_future(settings: RelaySettings, days: list[str]) -> list[tuple[str, RuleResult]]:
    """No user feature row of day D saw an event after D: the window ends where the partition does."""
    results = []
    for day in days:
        frame = _user_partition(settings, day)
        if frame is None:
            result = failed(day, None, f"{USER_FEATURES} has no stored partition", {})
        else:
            rows, latest = future_leak(frame, day)
            metrics = {"rows_after_partition_end": rows, "rows": len(frame)}
            if rows:
                stamp = pd.Timestamp(latest, unit="s", tz="UTC")
                result = failed(
                    day,
                    "user_last_event_ts",
                    f"{rows} {USER_FEATURES} rows saw events after the partition's day (latest {stamp}): "
                    "the feature window leaks the future",
                    metrics,
                )
            else:
                result = passed(day, f"every {USER_FEATURES} window ends by the partition's end", metrics)
        write_check_result(settings, USER_FEATURES, f"check_{USER_FEATURES}_window_future", day, result)
        results.append((day, result))
    return results


def check_user_window_totals(settings: RelaySettings, days: list[str]) -> list[tuple[str, RuleResult]]:
    """Day D's 1-day impression and click counts add up to D's accepted events: a window off by a
    day adds up to another day's."""
    with lake.connect(settings) as con:
        totals = con.execute(
            "SELECT date, count(*) FILTER (WHERE event_type = 'impression'), "
            "count(*) FILTER (WHERE event_type = 'click') "
            "FROM accepted_events WHERE list_contains($days, date) GROUP BY date",
            {"days": days},
        ).fetchall()
    expected = {d: (int(i), int(c)) for d, i, c in totals}
    results = []
    for day in days:
        frame = _user_partition(settings, day)
        if frame is None:
            result = failed(day, None, f"{USER_FEATURES} has no stored partition", {})
        else:
            seen = (int(frame["user_impressions_1d"].sum()), int(frame["user_clicks_1d"].sum()))
            events = expected.get(day, (0, 0))
            metrics = {
                "impressions_1d": seen[0],
                "clicks_1d": seen[1],
                "accepted_impressions": events[0],
                "accepted_clicks": events[1],
            }
            if seen != events:
                result = failed(
                    day,
                    "user_impressions_1d",
                    f"1-day windows count {seen[0]} impressions and {seen[1]} clicks, the day's accepted events "
                    f"{events[0]} and {events[1]}: the window is not the partition's day (off by a day?)",
                    metrics,
                )
            else:
                result = passed(day, "1-day windows add up to the day's accepted events", metrics)
        write_check_result(settings, USER_FEATURES, f"check_{USER_FEATURES}_window_totals", day, result)
        results.append((day, result))
    return results
