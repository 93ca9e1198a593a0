"""Ranker variants: a feature subset, and long-click labels."""

import pandas as pd
import pytest

from feature_repo.tables import RANKER_FEATURES
from training.ranker.variants import ranker_features, relabel_by_dwell

T0 = pd.Timestamp("2026-01-10", tz="UTC")


def test_ranker_features_drops_named_and_refuses_unknown():
    assert ranker_features("") == list(RANKER_FEATURES)
    kept = ranker_features("sasrec_score, retrieval_rank")
    assert "sasrec_score" not in kept and "retrieval_rank" not in kept
    assert len(kept) == len(RANKER_FEATURES) - 2
    with pytest.raises(ValueError, match="no_such_feature"):
        ranker_features("no_such_feature")


def test_relabel_keeps_only_long_clicks_in_the_horizon():
    rows = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3],
            "item_id": [10, 11, 10, 12, 10],
            "ts": [T0, T0, T0, T0, T0],
            "label": [1, 1, 1, 0, 1],
            "source": ["candidate", "candidate", "candidate", "candidate", "calibration"],
        },
        index=[5, 6, 7, 8, 9],  # a non-default index must not matter
    )
    clicks = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3],
            "item_id": [10, 11, 10, 10],
            "ts": [T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=2), T0 + pd.Timedelta(days=8), T0],
            "timespent_s": [60.0, 10.0, 90.0, 1.0],
        }
    )
    durations = pd.DataFrame({"item_id": [10, 11, 12], "duration_s": [100.0, 100.0, 100.0]})
    out = relabel_by_dwell(rows, clicks, durations, min_share=0.5, label_days=7)
    # user 1 / item 10: 60% dwell, kept; item 11: 10% dwell, dropped; user 2: the long click is
    # past the 7-day horizon, dropped; the negative stays; the calibration row keeps its click label.
    assert out["label"].tolist() == [1, 0, 0, 0, 1]
    assert out.index.tolist() == [5, 6, 7, 8, 9]


def test_relabel_names_a_missing_column():
    rows = pd.DataFrame({"user_id": [1], "item_id": [1], "ts": [T0], "label": [1]})
    with pytest.raises(ValueError, match=r"clicks lacks columns \['timespent_s'\]"):
        relabel_by_dwell(rows, rows.drop(columns="label"), pd.DataFrame({"item_id": [], "duration_s": []}), 0.5, 7)
