"""The served model: SASRec retrieval (item vectors + faiss) and the ranker, as one bundle.

The bundle is what MLflow registers and the ``champion`` alias points to. It records the
embedding model version whose Feast views it must read, so serving can refuse a mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import lightgbm as lgb
import numpy as np
import pandas as pd

BOOSTER_FILE = "ranker.txt"
ITEMS_FILE = "items.npz"
META_FILE = "bundle.json"


@dataclass
class RankerBundle:
    booster: lgb.Booster
    features: list[str]
    embedding_version: int
    item_ids: np.ndarray  # (I,) int64, aligned with item_vectors
    item_vectors: np.ndarray  # (I, d) float32
    popular_items: np.ndarray  # fallback list for users without history, most popular first
    metadata: dict[str, str] = field(default_factory=dict)
    _index: faiss.Index | None = field(default=None, repr=False)

    # -- scoring ---------------------------------------------------------------------
    def score(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ValueError(f"ranker input lacks feature columns {missing}")
        return self.booster.predict(frame[self.features].to_numpy(dtype=np.float64))

    # -- retrieval ---------------------------------------------------------------------
    @property
    def index(self) -> faiss.Index:
        if self._index is None:
            index = faiss.IndexFlatIP(self.item_vectors.shape[1])
            index.add(np.ascontiguousarray(self.item_vectors, dtype=np.float32))
            self._index = index
        return self._index

    def retrieve(self, user_vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item ids and inner-product scores per user vector (exact search)."""
        n = min(n, len(self.item_ids))
        scores, positions = self.index.search(np.ascontiguousarray(user_vectors, dtype=np.float32), n)
        return self.item_ids[positions], scores

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / BOOSTER_FILE))
        np.savez(
            directory / ITEMS_FILE,
            item_ids=self.item_ids,
            item_vectors=self.item_vectors,
            popular_items=self.popular_items,
        )
        meta = {"features": self.features, "embedding_version": self.embedding_version, "metadata": self.metadata}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> RankerBundle:
        meta = json.loads((directory / META_FILE).read_text())
        arrays = np.load(directory / ITEMS_FILE)
        return cls(
            booster=lgb.Booster(model_file=str(directory / BOOSTER_FILE)),
            features=list(meta["features"]),
            embedding_version=int(meta["embedding_version"]),
            item_ids=arrays["item_ids"],
            item_vectors=arrays["item_vectors"],
            popular_items=arrays["popular_items"],
            metadata=dict(meta.get("metadata", {})),
        )
