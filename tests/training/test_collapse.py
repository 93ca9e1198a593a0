"""The collapse guard on hand-made vectors and on a real SASRec whose encoder outputs one vector."""

import numpy as np
import pandas as pd
import pytest
import torch

from core.settings import RelaySettings
from training.sasrec.collapse import EmbeddingsCollapsed, check_not_collapsed, relative_spread
from training.sasrec.data import Vocabulary
from training.sasrec.embedding_tables import write_embedding_tables
from training.sasrec.model import SASRec, SASRecConfig


def test_relative_spread_on_hand_made_vectors():
    assert relative_spread(np.array([[1.0, 0.0], [1.0, 0.0]])) == 0.0
    assert relative_spread(np.array([[1.0, 0.0], [-1.0, 0.0]])) == 1.0  # centroid 0, distance 1, norm 1
    assert relative_spread(np.zeros((3, 2))) == 0.0
    with pytest.raises(EmbeddingsCollapsed, match=r"SASRec v7: user embeddings collapsed: relative spread 0.0000"):
        check_not_collapsed(np.ones((4, 3)), version=7)
    assert check_not_collapsed(np.eye(3), version=7) == pytest.approx(relative_spread(np.eye(3)))


def test_a_collapsed_encoder_writes_no_table(tmp_path):
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=20, max_len=6, dim=16, n_blocks=1, n_heads=2, dropout=0.0)).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" not in name:
                parameter.zero_()  # every history now encodes to the final norm's bias
    clicks = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3],
            "item_id": [3, 4, 5, 6, 7],
            "ts": pd.to_datetime(["2026-01-05 10:00"] * 5, utc=True) + pd.to_timedelta(range(5), unit="h"),
        }
    )
    settings = RelaySettings(home=tmp_path / "var")
    with pytest.raises(EmbeddingsCollapsed, match="SASRec v3"):
        write_embedding_tables(settings, model, Vocabulary.from_items(np.arange(1, 21)), clicks, 3, None)
    assert not list(settings.embeddings_dir.rglob("*.parquet"))
