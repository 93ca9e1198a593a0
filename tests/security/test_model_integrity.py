"""Models load only from Relay's registry, and only with the bytes recorded at registration."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from core.digest import sha256_file
from training import registry
from training.calibration import Calibrator
from training.ranker.bundle import RankerBundle
from training.ranker.lgbm import RankerConfig, train_ranker
from training.sasrec.checkpoint import save_checkpoint
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec, SASRecConfig


def _stored(settings, name: str) -> Path:
    """The one copy of ``name`` in the embedded registry's artifact store (what a tamperer edits)."""
    (path,) = [p for p in settings.artifact_root.rglob(name) if p.is_file()]
    return path


@pytest.fixture
def sasrec_version(settings, tmp_path) -> registry.RegisteredModel:
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=20, max_len=6, dim=16, n_blocks=1, n_heads=2, dropout=0.0)).eval()
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, model, Vocabulary.from_items(np.arange(1, 21)))
    registry.configure(settings)
    with registry.tracked_run("sasrec"):
        return registry.log_sasrec(checkpoint, settings.sasrec_model_name)


def test_sasrec_registration_records_the_checkpoint_sha256(settings, sasrec_version):
    tags = registry.version_tags(settings.sasrec_model_name, sasrec_version.version)
    assert tags[f"{registry.DIGEST_TAG}model.pt"] == sha256_file(_stored(settings, "model.pt"))
    model, vocabulary = registry.load_sasrec(settings.sasrec_model_name, sasrec_version.version)
    assert vocabulary.item_ids.tolist() == list(range(1, 21)) and model.config.dim == 16


def test_a_tampered_sasrec_checkpoint_is_refused(settings, sasrec_version):
    stored = _stored(settings, "model.pt")
    stored.write_bytes(stored.read_bytes() + b"tampered")
    with pytest.raises(registry.ArtifactTampered, match=r"relay-sasrec v1 artifacts do not match.*model\.pt: sha256"):
        registry.load_sasrec(settings.sasrec_model_name, sasrec_version.version)


def test_a_file_planted_beside_the_checkpoint_is_refused(settings, sasrec_version):
    (_stored(settings, "model.pt").parent / "extra.pt").write_bytes(b"planted")
    with pytest.raises(registry.ArtifactTampered, match=r"extra\.pt: not in the recorded lineage"):
        registry.load_sasrec(settings.sasrec_model_name, sasrec_version.version)


def test_a_version_without_recorded_digests_is_refused(settings, sasrec_version):
    MlflowClient().delete_model_version_tag(settings.sasrec_model_name, "1", f"{registry.DIGEST_TAG}model.pt")
    with pytest.raises(registry.ArtifactTampered, match="relay-sasrec v1 has no recorded artifact digests"):
        registry.load_sasrec(settings.sasrec_model_name, sasrec_version.version)


def _ranker_bundle() -> RankerBundle:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "session_id": np.repeat([f"s{i:03d}" for i in range(100)], 8),
            "position": np.tile(np.arange(1, 9), 100),
            "ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.repeat(np.arange(100) % 5, 8), unit="D"),
            "signal": rng.normal(size=800),
        }
    )
    frame["label"] = (frame["signal"] > 1.0).astype(int)
    result = train_ranker(frame, ["signal"], RankerConfig(kind="lightgbm", n_estimators=5, min_child_samples=5))
    return RankerBundle(
        ranker=result.ranker,
        features=["signal"],
        embedding_version=1,
        item_ids=np.arange(1, 11),
        item_vectors=rng.normal(size=(10, 4)).astype(np.float32),
        item_categories=np.zeros(10, dtype=np.int64),
        popular_items=np.arange(1, 6),
        calibrator=Calibrator.fit(result.ranker.raw_scores(frame[["signal"]].to_numpy()), frame["label"].to_numpy()),
    )


def test_a_tampered_ranker_is_refused_by_every_ranker_loader(settings):
    """Serving loads through ``load_verified_ranker`` (serving/champion.py); ``load_ranker`` must not bypass it."""
    registry.configure(settings)
    with mlflow.start_run():
        registry.log_ranker(_ranker_bundle(), pd.DataFrame({"signal": [0.0, 1.0]}), settings.ranker_model_name)
    assert registry.load_ranker(settings.ranker_model_name, 1).features == ["signal"]
    stored = _stored(settings, "items.npz")
    stored.write_bytes(stored.read_bytes() + b"tampered")
    for load in (registry.load_verified_ranker, registry.load_ranker):
        with pytest.raises(registry.ArtifactTampered, match=r"relay-ranker v1 artifacts do not match.*items\.npz"):
            load(settings.ranker_model_name, 1)
