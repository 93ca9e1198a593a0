"""What a ranker learns from, beyond its hyperparameters: which features and which clicks.

Two knobs of ``RankerConfig`` that real teams turn, and that the offline→online benchmark
needs in order to build challengers that differ the way real ones do:

- ``drop_features``: a ranker on fewer features (a cheaper or a popularity-heavy model);
- ``min_dwell_share``: "long clicks" as the label. A click counts as a positive only if the user
  then spent at least this share of the item's duration on it. Clicks are the proxy; time spent
  is closer to what the business wants, and a short dwell is how clickbait shows in a log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_repo.tables import RANKER_FEATURES


def ranker_features(drop_features: str = "") -> list[str]:
    """``RANKER_FEATURES`` without the comma-separated names in ``drop_features``."""
    dropped = [name.strip() for name in drop_features.split(",") if name.strip()]
    unknown = sorted(set(dropped) - set(RANKER_FEATURES))
    if unknown:
        raise ValueError(f"drop_features names unknown ranker features {unknown}; known: {list(RANKER_FEATURES)}")
    kept = [name for name in RANKER_FEATURES if name not in dropped]
    if not kept:
        raise ValueError("drop_features leaves the ranker no feature")
    return kept


def relabel_by_dwell(
    rows: pd.DataFrame, clicks: pd.DataFrame, durations: pd.DataFrame, min_share: float, label_days: int
) -> pd.DataFrame:
    """``rows`` with each positive (``label`` 1) kept only if the user clicked the item within
    ``label_days`` from the row's ``ts`` and spent at least ``min_share`` of its duration on it.

    ``clicks``: user_id, item_id, ts, timespent_s; ``durations``: item_id, duration_s. Rows of the
    calibration day keep their click labels, so the calibrated score stays P(click | impression)
    and the score contract downstream rules read does not move.
    """
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"min_dwell_share must be in (0, 1], got {min_share}")
    for name, frame, columns in (
        ("rows", rows, ("user_id", "item_id", "ts", "label")),
        ("clicks", clicks, ("user_id", "item_id", "ts", "timespent_s")),
        ("durations", durations, ("item_id", "duration_s")),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"relabel_by_dwell: {name} lacks columns {missing}")
    share = clicks.merge(durations[["item_id", "duration_s"]], on="item_id", how="left")
    share = share.assign(share=share["timespent_s"] / share["duration_s"].where(share["duration_s"] > 0))
    long_clicks = share.loc[share["share"] >= min_share, ["user_id", "item_id", "ts"]]
    relabel = rows["label"].to_numpy() == 1
    if "source" in rows.columns:
        relabel &= rows["source"].to_numpy() != "calibration"
    positions = np.flatnonzero(relabel)
    positives = rows.iloc[positions][["user_id", "item_id", "ts"]].assign(row=positions).reset_index(drop=True)
    matched = positives.merge(long_clicks, on=["user_id", "item_id"], suffixes=("", "_click"))
    horizon = (matched["ts_click"] >= matched["ts"]) & (
        matched["ts_click"] < matched["ts"] + pd.Timedelta(days=label_days)
    )
    kept = np.isin(positions, matched.loc[horizon, "row"].to_numpy())
    labels = rows["label"].to_numpy().copy()
    labels[positions[~kept]] = 0
    return rows.assign(label=labels.astype(rows["label"].dtype))
