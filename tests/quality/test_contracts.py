"""Boundary contracts of derived tables, and the guard that keeps corrupted features from models."""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from quality.contracts import ItemEmbeddings, RankerTrainingSet, ScoredCandidates, feature_bounds, for_window
from training.guard import FeatureGuard
from training.ranker.bundle import RankerBundle
from training.ranker.fit import ranker_bounds
from training.ranker.lgbm import RankerConfig, train_lambdarank


def test_bounds_come_from_the_contract():
    bounds = ranker_bounds()
    assert bounds["user_ctr_7d"] == (0.0, 1.0)
    assert bounds["user_clicks_7d"] == (0.0, None)
    assert bounds["user_active_days_30d"] == (0.0, 30.0)  # stored >= 1; absent users are filled with 0
    assert bounds["sasrec_score"] == (-1e4, 1e4)
    assert feature_bounds(ScoredCandidates)["rank"] == (1.0, None)


def test_guard_clips_and_reports_exactly():
    frame = pd.DataFrame({"ctr": [0.5, 1.7, -0.2, np.inf, np.nan], "clicks": [3.0, -np.inf, 1e12, 2.0, 0.0]})
    guarded, report = FeatureGuard({"ctr": (0.0, 1.0), "clicks": (0.0, None)}).apply(frame, ["ctr", "clicks"])
    np.testing.assert_array_equal(guarded["ctr"].to_numpy(), [0.5, 1.0, 0.0, np.nan, np.nan])
    np.testing.assert_array_equal(guarded["clicks"].to_numpy(), [3.0, np.nan, 1e12, 2.0, 0.0])
    assert report.as_dict() == {
        "rows": 5,
        "changed_values": 4,
        "non_finite_to_missing": {"ctr": 1, "clicks": 1},
        "clipped_low": {"ctr": 1},
        "clipped_high": {"ctr": 1},
    }


def _sessions(rng: np.random.Generator, n_sessions: int = 300, slate: int = 6) -> pd.DataFrame:
    signal = rng.normal(size=n_sessions * slate)
    return pd.DataFrame(
        {
            "session_id": np.repeat([f"s{i:04d}" for i in range(n_sessions)], slate),
            "position": np.tile(np.arange(1, slate + 1), n_sessions),
            "ts": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.repeat(np.arange(n_sessions) % 4, slate), unit="D"),
            "ctr": 1 / (1 + np.exp(-signal)),
            "clicks": rng.poisson(3, size=signal.size).astype(float),
            "label": (signal > 0.8).astype(int),
        }
    )


def test_ranker_trained_on_corrupted_features_never_emits_non_finite_scores():
    rng = np.random.default_rng(1)
    frame = _sessions(rng)
    corrupt = frame.index[::7]
    frame.loc[corrupt, "ctr"] = np.inf
    frame.loc[frame.index[1::11], "clicks"] = -5.0
    frame.loc[frame.index[2::13], "ctr"] = 40.0
    guard = FeatureGuard({"ctr": (0.0, 1.0), "clicks": (0.0, None)})
    result = train_lambdarank(
        frame, ["ctr", "clicks"], RankerConfig(n_estimators=30, min_child_samples=5, validation_days=1), guard
    )
    assert result.guard_report.non_finite == {"ctr": int(np.isinf(frame["ctr"]).sum())}
    assert result.guard_report.clipped_high == {"ctr": int((frame["ctr"] == 40.0).sum())}
    assert result.guard_report.clipped_low == {"clicks": len(frame.index[1::11])}
    bundle = RankerBundle(
        ranker=result.ranker,
        features=["ctr", "clicks"],
        embedding_version=1,
        item_ids=np.array([1]),
        item_vectors=np.zeros((1, 2), np.float32),
        item_categories=np.array([0]),
        popular_items=np.array([1]),
        bounds=guard.bounds,
    )
    serving = pd.DataFrame({"ctr": [np.nan, np.inf, -np.inf, 1e300, 0.3], "clicks": [np.inf, -1.0, 2.0, np.nan, 1e308]})
    assert np.isfinite(bundle.score(serving)).all()


def test_training_set_contract_enforces_its_window_and_keys():
    row = {
        "session_id": "s1",
        "user_id": 1,
        "item_id": 2,
        "ts": pd.Timestamp("2026-01-10 12:00", tz="UTC"),
        "position": 1,
        "label": 1,
        "weight": 1.0,
        "source": "candidate",
        **{name: 0.0 for name in ranker_bounds()},
    }
    frame = pd.DataFrame([row, {**row, "item_id": 3, "label": 0}]).astype({"ts": "datetime64[ns, UTC]"})
    window = (pd.Timestamp("2026-01-10", tz="UTC"), pd.Timestamp("2026-01-11", tz="UTC"))
    for_window(RankerTrainingSet, *window).validate(frame)
    with pytest.raises(pa.errors.SchemaErrors, match="ts outside the window"):
        for_window(RankerTrainingSet, *window).validate(frame.assign(ts=frame["ts"] + pd.Timedelta(days=1)), lazy=True)
    with pytest.raises(pa.errors.SchemaErrors, match="session_id"):
        RankerTrainingSet.validate(pd.concat([frame, frame.iloc[[0]]], ignore_index=True), lazy=True)
    with pytest.raises(pa.errors.SchemaErrors, match="source"):  # an importer's synthetic rows have no place
        RankerTrainingSet.validate(frame.assign(source="synthetic"), lazy=True)


def test_embedding_contract_refuses_non_finite_vectors():
    table = pd.DataFrame(
        {
            "item_id": [1, 2],
            "event_timestamp": pd.Timestamp("2026-01-10", tz="UTC"),
            "item_embedding": [np.array([0.1, 0.2], np.float32), np.array([np.nan, 0.2], np.float32)],
            "created_timestamp": pd.Timestamp("2026-01-10", tz="UTC"),
            "embedding_version": 1,
        }
    ).astype({"event_timestamp": "datetime64[ns, UTC]", "created_timestamp": "datetime64[ns, UTC]"})
    with pytest.raises(pa.errors.SchemaErrors, match="vectors must be non-empty, finite"):
        ItemEmbeddings.validate(table, lazy=True)
    ItemEmbeddings.validate(table.iloc[[0]])


def test_scored_candidates_contract():
    scored = pd.DataFrame({"user_id": [1, 1], "item_id": [5, 6], "score": [0.2, np.nan], "rank": [1, 2]})
    with pytest.raises(pa.errors.SchemaErrors, match="score"):
        ScoredCandidates.validate(scored, lazy=True)
