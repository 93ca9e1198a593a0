"""Both ranker kinds behind one interface: they learn, round-trip, and register with one signature."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from training import registry
from training.calibration import Calibrator
from training.ranker.bundle import RankerBundle
from training.ranker.lgbm import RankerConfig, train_ranker


def _sessions(n_sessions: int = 400, slate: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n_sessions * slate)
    return pd.DataFrame(
        {
            "session_id": np.repeat([f"s{i:04d}" for i in range(n_sessions)], slate),
            "position": np.tile(np.arange(1, slate + 1), n_sessions),
            "ts": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.repeat(np.arange(n_sessions) % 5, slate), unit="D"),
            "signal": signal,
            "noise": rng.normal(size=signal.size),
            "label": (signal + 0.3 * rng.normal(size=signal.size) > 1.0).astype(int),
        }
    )


@pytest.mark.parametrize("kind", ["lightgbm", "neural"])
def test_each_kind_learns_the_informative_feature_and_round_trips(kind, tmp_path):
    frame = _sessions()
    result = train_ranker(
        frame, ["signal", "noise"], RankerConfig(kind=kind, n_estimators=60, min_child_samples=10, epochs=15)
    )
    probe = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    scores = result.ranker.raw_scores(probe)
    assert scores[0] > scores[1]  # more signal, higher score
    assert scores[0] - scores[1] > 3 * abs(scores[2] - scores[3])  # the noise barely moves it
    result.ranker.save(tmp_path)
    again = type(result.ranker).load(tmp_path, ["signal", "noise"])
    np.testing.assert_allclose(again.raw_scores(probe), scores, rtol=1e-6)


def _bundle(kind: str) -> RankerBundle:
    frame = _sessions(200)
    result = train_ranker(
        frame, ["signal", "noise"], RankerConfig(kind=kind, n_estimators=20, min_child_samples=10, epochs=3)
    )
    raw = result.ranker.raw_scores(frame[["signal", "noise"]].to_numpy())
    return RankerBundle(
        ranker=result.ranker,
        features=["signal", "noise"],
        embedding_version=1,
        item_ids=np.arange(1, 51),
        item_vectors=np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32),
        item_categories=np.zeros(50, dtype=np.int64),
        popular_items=np.arange(1, 11),
        calibrator=Calibrator.fit(raw, frame["label"].to_numpy()),
    )


def test_both_kinds_register_with_the_same_pyfunc_signature(settings):
    registry.configure(settings)
    example = _sessions(5)[["signal", "noise"]]
    signatures = {}
    for kind in ("lightgbm", "neural"):
        with mlflow.start_run(run_name=kind):
            registered = registry.log_ranker(_bundle(kind), example, settings.ranker_model_name, {"ranker_kind": kind})
        signatures[kind] = mlflow.models.get_model_info(registered.uri).signature
        bundle, version = registry.load_verified_ranker(settings.ranker_model_name, registered.version)
        assert version == registered.version and bundle.ranker.kind == kind
        scores = bundle.score(example)
        assert ((scores >= 0) & (scores <= 1)).all()  # calibrated probabilities
    assert signatures["lightgbm"] == signatures["neural"]
