"""The request path, free of HTTP: retrieve by embedding, fetch online features, rank.

Kept apart from FastAPI so it can be tested and benchmarked directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from feast import FeatureStore

from feature_repo.retrieval import online_features
from feature_repo.views import user_embedding_view_name
from training.ranker.bundle import RankerBundle

N_CANDIDATES = 200


@dataclass(frozen=True)
class Recommendation:
    user_id: int
    item_ids: list[int]
    scores: list[float | None]
    model_version: int
    embedding_version: int
    fallback: str | None = None
    candidates: int = 0


@dataclass
class Recommender:
    store: FeatureStore
    bundle: RankerBundle
    model_version: int
    n_candidates: int = N_CANDIDATES
    stats: dict[str, int] = field(default_factory=lambda: {"requests": 0, "fallbacks": 0, "guarded_values": 0})

    def user_vector(self, user_id: int) -> np.ndarray | None:
        ref = f"{user_embedding_view_name(self.bundle.embedding_version)}:user_embedding"
        values = self.store.get_online_features(features=[ref], entity_rows=[{"user_id": int(user_id)}]).to_dict()
        vector = values["user_embedding"][0]
        return None if vector is None or len(vector) == 0 else np.asarray(vector, dtype=np.float32)

    def recommend(self, user_id: int, k: int) -> Recommendation:
        self.stats["requests"] += 1
        vector = self.user_vector(user_id)
        if vector is None:
            self.stats["fallbacks"] += 1
            items = self.bundle.popular_items[:k]
            return Recommendation(
                user_id=user_id,
                item_ids=[int(i) for i in items],
                scores=[None] * len(items),
                model_version=self.model_version,
                embedding_version=self.bundle.embedding_version,
                fallback="popularity",
            )
        positions, _ = self.bundle.retrieve_positions(vector[None, :], self.n_candidates)
        candidates = self.bundle.item_ids[positions[0]]
        categories = self.bundle.item_categories[positions[0]]
        now = pd.Timestamp.now(tz="UTC")
        features = online_features(self.store, user_id, candidates, categories, self.bundle.embedding_version, now)
        self.stats["guarded_values"] += self.bundle.guard(features)[1].changed
        scores = self.bundle.score(features)
        order = np.argsort(-scores, kind="stable")[:k]
        return Recommendation(
            user_id=user_id,
            item_ids=[int(i) for i in candidates[order]],
            scores=[float(s) for s in scores[order]],
            model_version=self.model_version,
            embedding_version=self.bundle.embedding_version,
            candidates=len(candidates),
        )
