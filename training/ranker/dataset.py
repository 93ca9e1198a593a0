"""Label impressions with clicks: the ranker learns P(click | impression) per session."""

from __future__ import annotations

import pandas as pd


def labelled_impressions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per impression with ``label`` 1 when the same session clicked that item.

    Input columns: session_id, user_id, item_id, ts, event_type, position. A repeated
    impression of an item in a session keeps its first showing.
    """
    impressions = events[events["event_type"] == "impression"]
    impressions = impressions.sort_values("ts", kind="stable").drop_duplicates(["session_id", "item_id"])
    clicked = events.loc[events["event_type"] == "click", ["session_id", "item_id"]].drop_duplicates()
    clicked = clicked.assign(label=1)
    out = impressions.merge(clicked, on=["session_id", "item_id"], how="left")
    out["label"] = out["label"].fillna(0).astype("int64")
    columns = ["session_id", "user_id", "item_id", "ts", "position", "label"]
    columns += ["propensity"] if "propensity" in out.columns else []  # the serving policy's, where logged
    return out[columns].reset_index(drop=True)


def sessions_with_clicks(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep sessions with at least one click and one non-click: others carry no ranking signal."""
    by_session = frame.groupby("session_id")["label"].agg(["sum", "count"])
    useful = by_session.index[(by_session["sum"] > 0) & (by_session["sum"] < by_session["count"])]
    return frame[frame["session_id"].isin(useful)].reset_index(drop=True)
