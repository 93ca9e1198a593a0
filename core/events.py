"""Reads of accepted clean events for training, by time window."""

from __future__ import annotations

import duckdb
import pandas as pd

EVENT_COLUMNS = "user_id, item_id, ts, event_type, position, session_id, timespent_s, propensity"


def read_events(
    con: duckdb.DuckDBPyConnection,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    event_type: str | None = None,
) -> pd.DataFrame:
    """Accepted events with ``start <= ts < end`` (either bound optional), in time order."""
    clauses, params = [], {}
    if start is not None:
        clauses.append("ts >= $start")
        params["start"] = start.to_pydatetime()
    if end is not None:
        clauses.append("ts < $end")
        params["end"] = end.to_pydatetime()
    if event_type is not None:
        clauses.append("event_type = $event_type")
        params["event_type"] = event_type
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    frame = con.execute(f"SELECT {EVENT_COLUMNS} FROM accepted_events {where} ORDER BY ts, event_id", params).df()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def most_active_user(con: duckdb.DuckDBPyConnection) -> int:
    """The user with the most accepted clicks (smallest id on ties): a good demo subject."""
    row = con.execute(
        "SELECT user_id FROM accepted_events WHERE event_type = 'click' "
        "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"
    ).fetchone()
    if row is None:
        raise ValueError("no accepted click events yet")
    return int(row[0])
