"""The served model: SASRec retrieval (item vectors + faiss) and the ranker, as one bundle.

The bundle is what MLflow registers and the ``champion`` alias points to. It records the
embedding model version whose Feast views it must read, so serving can refuse a mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from training.calibration import Calibrator
from training.guard import Bounds, FeatureGuard, GuardReport
from training.ranker.base import Ranker
from training.ranker.candidates import popularity_order

HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 256  # candidates explored per query: recall ~0.99 at k=200 on the demo catalogue
RANKER_DIR = "ranker"
CALIBRATOR_FILE = "calibrator.pkl"
# What can serve from one bundle. The gate picks one; the registry names it; serving honours it.
POPULARITY, FIRST_STAGE, TWO_STAGE = "popularity", "first_stage", "two_stage"
CONFIGURATIONS = (POPULARITY, FIRST_STAGE, TWO_STAGE)
ITEMS_FILE = "items.npz"
META_FILE = "bundle.json"


@dataclass
class RankerBundle:
    ranker: Ranker
    features: list[str]
    embedding_version: int
    item_ids: np.ndarray  # (I,) int64, aligned with item_vectors
    item_vectors: np.ndarray  # (I, d) float32
    item_categories: np.ndarray  # (I,) int64, the user x category features join on it
    popular_items: np.ndarray  # fallback list for users without history, most popular first
    calibrator: Calibrator | None = None  # raw score -> P(click | impression)
    bounds: Bounds = field(default_factory=dict)  # the guard's contract ranges per feature
    metadata: dict[str, str] = field(default_factory=dict)
    # P(click | impression) of the other configurations' order scores (the retrieval score; the
    # popularity score), fitted on the same held-out day as ``calibrator``.
    first_stage_calibrator: Calibrator | None = None
    popularity_calibrator: Calibrator | None = None
    _index: faiss.Index | None = field(default=None, repr=False)
    _position_of: dict[int, int] | None = field(default=None, repr=False)

    # -- scoring ---------------------------------------------------------------------
    def guard(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, GuardReport]:
        """Clip to the contract ranges and make non-finite values missing, as in training."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ValueError(f"ranker input lacks feature columns {missing}")
        return FeatureGuard(self.bounds).apply(frame[self.features], self.features)

    def raw_scores(self, frame: pd.DataFrame) -> np.ndarray:
        guarded, _ = self.guard(frame)
        return self.ranker.raw_scores(guarded.to_numpy(dtype=np.float64))

    def score_unchecked(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated scores as they come, NaN included (the promotion gate inspects them)."""
        raw = self.raw_scores(frame)
        return self.calibrator.apply(raw) if self.calibrator is not None else raw

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated P(click | impression); a non-finite score is a model defect and raises."""
        return _finite(self.score_unchecked(frame))

    def score_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, GuardReport]:
        """``score`` for a (rows, features) matrix in ``self.features`` order: serving's path,
        with no per-column frame work."""
        _, calibrated, report = self.rank_matrix(matrix)
        return calibrated, report

    def rank_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, GuardReport]:
        """(raw scores, calibrated P(click), guard report) for a feature matrix. Slates are ordered
        by the raw score: isotonic calibration has plateaus, so ordering by the calibrated value
        would tie candidates the ranker tells apart."""
        guarded, report = FeatureGuard(self.bounds).apply_matrix(matrix, self.features)
        raw = _finite(self.ranker.raw_scores(guarded))
        return raw, _finite(self.calibrator.apply(raw) if self.calibrator is not None else raw), report

    def popularity_scores(self, item_ids: np.ndarray) -> np.ndarray:
        """The popularity configuration's order score of ``item_ids`` (``popularity_order``)."""
        return popularity_order(self.popular_items, item_ids)

    def popular_positions(self, exclude: np.ndarray) -> np.ndarray:
        """Positions (into ``item_ids``) of the popular items not in ``exclude`` (item ids), most
        popular first: the second source of the two-stage pool (see ``candidates.with_popular``).
        Items without an embedding cannot be scored and are left out."""
        if self._position_of is None:
            self._position_of = {int(item): position for position, item in enumerate(self.item_ids.tolist())}
        extra = self.popular_items[~np.isin(self.popular_items, exclude)]
        return np.asarray([self._position_of[int(i)] for i in extra if int(i) in self._position_of], dtype=np.int64)

    def probabilities(self, configuration: str, order_scores: np.ndarray) -> np.ndarray:
        """Calibrated P(click) of a configuration's order scores (NaN stays NaN)."""
        calibrator = {
            TWO_STAGE: self.calibrator,
            FIRST_STAGE: self.first_stage_calibrator,
            POPULARITY: self.popularity_calibrator,
        }[configuration]
        scores = np.asarray(order_scores, dtype=np.float64)
        if calibrator is None:
            return scores if configuration == TWO_STAGE else np.full(len(scores), np.nan)
        out = np.full(len(scores), np.nan)
        finite = np.isfinite(scores)
        if finite.any():
            out[finite] = calibrator.apply(scores[finite])
        return out

    # -- retrieval ---------------------------------------------------------------------
    @property
    def index(self) -> faiss.Index:
        """An HNSW graph over the item vectors (inner product); built once, on first use."""
        if self._index is None:
            self._index = hnsw_index(self.item_vectors)
        return self._index

    def retrieval_recall(self, user_vectors: np.ndarray, k: int) -> float:
        """Recall@k of the HNSW index against exact inner-product search on ``user_vectors``."""
        exact = faiss.IndexFlatIP(self.item_vectors.shape[1])
        exact.add(np.ascontiguousarray(self.item_vectors, dtype=np.float32))
        k = min(k, len(self.item_ids))
        queries = np.ascontiguousarray(user_vectors, dtype=np.float32)
        _, truth = exact.search(queries, k)
        _, found = self.index.search(queries, k)
        hits = sum(len(set(t) & set(f)) for t, f in zip(truth, found, strict=True))
        return hits / truth.size

    def retrieve(self, user_vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item ids and inner-product scores per user vector (exact search)."""
        positions, scores = self.retrieve_positions(user_vectors, n)
        return self.item_ids[positions], scores

    def retrieve_positions(self, user_vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Like ``retrieve`` but returns positions into ``item_ids`` (to look up categories too)."""
        n = min(n, len(self.item_ids))
        scores, positions = self.index.search(np.ascontiguousarray(user_vectors, dtype=np.float32), n)
        return positions, scores

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        (directory / RANKER_DIR).mkdir(parents=True, exist_ok=True)
        self.ranker.save(directory / RANKER_DIR)
        if self.calibrator is not None:
            self.calibrator.save(directory / CALIBRATOR_FILE)
        for name, calibrator in self._extra_calibrators().items():
            if calibrator is not None:
                calibrator.save(directory / f"{name}_{CALIBRATOR_FILE}")
        np.savez(
            directory / ITEMS_FILE,
            item_ids=self.item_ids,
            item_vectors=self.item_vectors,
            item_categories=self.item_categories,
            popular_items=self.popular_items,
        )
        meta = {
            "kind": self.ranker.kind,
            "features": self.features,
            "embedding_version": self.embedding_version,
            "calibrated": self.calibrator is not None,
            "calibrated_configurations": [n for n, c in self._extra_calibrators().items() if c is not None],
            "bounds": {name: list(pair) for name, pair in self.bounds.items()},
            "metadata": self.metadata,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> RankerBundle:
        from training.ranker.lgbm import LightGBMRanker
        from training.ranker.neural import NeuralRanker

        meta = json.loads((directory / META_FILE).read_text())
        arrays = np.load(directory / ITEMS_FILE)
        kinds = {"lightgbm": LightGBMRanker, "neural": NeuralRanker}
        features = list(meta["features"])
        extra = {
            name: Calibrator.load(directory / f"{name}_{CALIBRATOR_FILE}")
            for name in meta.get("calibrated_configurations", [])
        }
        return cls(
            ranker=kinds[meta["kind"]].load(directory / RANKER_DIR, features),
            features=features,
            embedding_version=int(meta["embedding_version"]),
            item_ids=arrays["item_ids"],
            item_vectors=arrays["item_vectors"],
            item_categories=arrays["item_categories"],
            popular_items=arrays["popular_items"],
            calibrator=Calibrator.load(directory / CALIBRATOR_FILE) if meta.get("calibrated") else None,
            bounds={name: (low, high) for name, (low, high) in meta.get("bounds", {}).items()},
            metadata=dict(meta.get("metadata", {})),
            first_stage_calibrator=extra.get(FIRST_STAGE),
            popularity_calibrator=extra.get(POPULARITY),
        )

    def _extra_calibrators(self) -> dict[str, Calibrator | None]:
        return {FIRST_STAGE: self.first_stage_calibrator, POPULARITY: self.popularity_calibrator}


def _finite(scores: np.ndarray) -> np.ndarray:
    if not np.isfinite(scores).all():
        raise ValueError(f"ranker produced {int((~np.isfinite(scores)).sum())} non-finite scores")
    return scores


def hnsw_index(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 2 * HNSW_EF_SEARCH
    index.hnsw.efSearch = HNSW_EF_SEARCH
    # A parallel build links nodes in a racy order, so two builds of one catalogue retrieve
    # different candidates; one thread makes training rows, evaluation and serving reproducible.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(threads)
    return index
