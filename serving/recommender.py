"""The request path, free of HTTP: retrieval, online features, ranking, calibration, rules.

1. faiss retrieval over the champion's item embeddings (``n_candidates``), plus the popular
   items it did not retrieve (the ranker's pool);
2. Feast online features (``serving.online``);
3. the champion ranker and 4. its calibrator: P(click | impression);
5. business rules: drop already-seen items, cap items per category (``slate.rules``);
6. a ``Recommendation`` that names the model version, the configuration and each item's
   serving propensity, and whether its online features were fresh or the last good ones.

The online reads go through ``serving.online_guard``: when the store fails or lost its keys, a
user's last good read answers, else the popular list with the reason (``online_store_unavailable``,
``online_store_empty``).

The promotion gate picks which configuration of the champion bundle serves: ``two_stage`` (all
of the above), ``first_stage`` (retrieval order, its own calibrator; no features, no ranker) or
``popularity`` (the most clicked items for everyone).

Kept apart from FastAPI so it can be tested and benchmarked directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from feast import FeatureStore

from serving.online import CategoryReader, OnlineReader
from serving.online_guard import OnlineGuard, OnlineStoreUnavailable, ReadLog
from serving.options import ServingOptions
from slate.rules import draw_slate, unseen_mask
from training.ranker.bundle import CONFIGURATIONS, FIRST_STAGE, POPULARITY, TWO_STAGE, RankerBundle
from training.ranker.candidates import NOT_RETRIEVED_RANK


@dataclass(frozen=True)
class Recommendation:
    user_id: int
    item_ids: list[int]
    scores: list[float | None]
    propensities: list[float]
    model_version: int
    embedding_version: int
    configuration: str = TWO_STAGE
    fallback: str | None = None
    candidates: int = 0
    filtered_seen: int = 0
    guarded_values: int = 0  # feature values the contract guard clipped or nulled
    stage_seconds: dict[str, float] = field(default_factory=dict)
    features_source: str | None = None  # online | cache (last good read) | None (no user read answered)
    online_errors: tuple[str, ...] = ()  # the store's errors this request met (exception names)


class StageTimer:
    """Seconds spent per named stage of one request (``with timer("ranking"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class ScoredPool:
    """A configuration's candidates for one request, before the business rules draw the slate."""

    item_ids: np.ndarray
    raw: np.ndarray  # the order score the slate follows
    scores: np.ndarray  # calibrated P(click | impression)
    categories: np.ndarray
    seen: np.ndarray  # items dropped as consumed (history and the request's exclusions)
    fallback: str | None  # why the user gets the popular list instead, if they do
    filtered_seen: int
    guarded_values: int

    @classmethod
    def empty(cls, seen: np.ndarray, fallback: str | None, filtered_seen: int = 0) -> ScoredPool:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none.astype(float), none.astype(float), none, seen, fallback, filtered_seen, 0)


def _clock() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@dataclass
class Recommender:
    store: FeatureStore
    bundle: RankerBundle
    model_version: int
    options: ServingOptions = field(default_factory=ServingOptions)
    clock: Callable[[], pd.Timestamp] = _clock
    configuration: str = TWO_STAGE
    online: OnlineReader = field(init=False)
    guard: OnlineGuard = field(init=False)

    def __post_init__(self) -> None:
        if self.configuration not in CONFIGURATIONS:
            raise ValueError(f"unknown configuration {self.configuration!r}; use one of {CONFIGURATIONS}")
        self.online = OnlineReader(
            self.store,
            self.bundle.item_ids,
            self.bundle.features,
            self.bundle.embedding_version,
            dim=self.bundle.item_vectors.shape[1],
            ttl_s=self.options.item_cache_ttl_s,
        )
        self.guard = OnlineGuard(self.options, self.online.probe)
        _ = self.bundle.index  # build the HNSW graph now, not in the first request
        self._category_of = dict(zip(self.bundle.item_ids.tolist(), self.bundle.item_categories.tolist(), strict=True))

    def recommend(
        self, user_id: int, k: int, exclude: list[int] | None = None, rng: np.random.Generator | None = None
    ) -> Recommendation:
        timer, reads = StageTimer(), ReadLog()
        pool = self._pool(user_id, exclude, timer, reads)
        if pool.fallback is not None or self.configuration == POPULARITY:
            popular = self._popular(user_id, k, pool.seen, pool.fallback, timer)
            return replace(popular, features_source=reads.source, online_errors=tuple(reads.errors))
        with timer("rules"):
            slate = draw_slate(
                pool.raw,
                pool.categories,
                np.ones(len(pool.raw), bool),
                k,
                self.options.max_per_category,
                self.options.temperature,
                rng,
                pool.scores,
            )
        return Recommendation(
            user_id=user_id,
            item_ids=[int(i) for i in pool.item_ids[slate.positions]],
            scores=[float(s) for s in pool.scores[slate.positions]],
            propensities=[float(p) for p in slate.propensities],
            model_version=self.model_version,
            embedding_version=self.bundle.embedding_version,
            configuration=self.configuration,
            candidates=len(pool.item_ids),
            filtered_seen=pool.filtered_seen,
            guarded_values=pool.guarded_values,
            stage_seconds=timer.seconds,
            features_source=reads.source,
            online_errors=tuple(reads.errors),
        )

    def pool(self, user_id: int, exclude: list[int] | None = None) -> ScoredPool:
        """The candidates this configuration would choose a slate from, with their order and
        calibrated scores: what an exploring logger samples from and an off-policy estimate needs.
        A popularity configuration (or a user it cannot personalise for) gets the popular list."""
        timer = StageTimer()
        pool = self._pool(user_id, exclude, timer, ReadLog())
        if pool.fallback is None and self.configuration != POPULARITY:
            return pool
        items = self.bundle.popular_items[unseen_mask(self.bundle.popular_items, pool.seen)]
        order = -np.arange(len(items), dtype=np.float64)
        categories = np.asarray([self._category_of.get(int(i), -1) for i in items], dtype=np.int64)
        scores = self.bundle.probabilities(POPULARITY, self.bundle.popularity_scores(items))
        return ScoredPool(items, order, scores, categories, pool.seen, pool.fallback, pool.filtered_seen, 0)

    def _pool(self, user_id: int, exclude: list[int] | None, timer: StageTimer, reads: ReadLog) -> ScoredPool:
        try:
            return self._guarded_pool(user_id, exclude, timer, reads)
        except OnlineStoreUnavailable as unavailable:
            return ScoredPool.empty(np.asarray(exclude or [], dtype=np.int64), unavailable.reason)

    def _guarded_pool(self, user_id: int, exclude: list[int] | None, timer: StageTimer, reads: ReadLog) -> ScoredPool:
        options = self.options
        with timer("user_lookup"):
            user = self.guard.user(user_id, self.online.user, reads)
        seen = np.concatenate([user.recent_items, np.asarray(exclude or [], dtype=np.int64)])
        if not options.filter_seen:
            seen = np.asarray(exclude or [], dtype=np.int64)
        if self.configuration == POPULARITY:
            return ScoredPool.empty(seen, None)
        if user.vector is None:
            return ScoredPool.empty(seen, "no_user_embedding")
        with timer("retrieval"):
            positions, retrieval_scores = self.bundle.retrieve_positions(user.vector[None, :], options.n_candidates)
            valid = positions[0] >= 0
            positions, retrieval_scores = positions[0][valid], retrieval_scores[0][valid]
            ranks = np.flatnonzero(valid).astype(np.float64)
            unseen = unseen_mask(self.bundle.item_ids[positions], seen)
            filtered = int((~unseen).sum())
            positions, retrieval_scores, ranks = positions[unseen], retrieval_scores[unseen], ranks[unseen]
        if len(positions) == 0:
            return ScoredPool.empty(seen, "no_candidates", filtered)
        guarded = 0
        if self.configuration == FIRST_STAGE:
            raw = retrieval_scores.astype(np.float64)
            scores = self.bundle.probabilities(FIRST_STAGE, raw)
        else:
            # The ranker's pool: the retrieved items and the popular ones SASRec did not retrieve.
            extra = self.bundle.popular_positions(np.concatenate([self.bundle.item_ids[positions], seen]))
            positions = np.concatenate([positions, extra])
            ranks = np.concatenate([ranks, np.full(len(extra), float(NOT_RETRIEVED_RANK))])
            categories = self.bundle.item_categories[positions]
            with timer("features"):
                features = self.online.matrix(
                    user, user_id, positions, categories, self.clock(), ranks, self._category_reader(reads)
                )
            with timer("ranking"):
                raw, scores, report = self.bundle.rank_matrix(features)
                guarded = report.changed
        return ScoredPool(
            self.bundle.item_ids[positions],
            raw,
            scores,
            self.bundle.item_categories[positions],
            seen,
            None,
            filtered,
            guarded,
        )

    def _category_reader(self, reads: ReadLog) -> CategoryReader:
        """The user x category read of one request, through the guard."""

        def read(user_id: int, distinct: np.ndarray) -> np.ndarray:
            fetch = lambda: self.online.category_rows(user_id, distinct)  # noqa: E731
            return self.guard.categories(user_id, distinct, fetch, self.online.absent_categories, reads)

        return read

    def _popular(self, user_id: int, k: int, seen: np.ndarray, reason: str | None, timer: StageTimer) -> Recommendation:
        """The most popular unseen items, under the same category cap: the popularity configuration's
        list for everyone, and the fallback (``reason``) for users the first stage cannot serve."""
        with timer("rules"):
            items = self.bundle.popular_items
            items = items[unseen_mask(items, seen)]
            categories = np.asarray([self._category_of.get(int(i), -1) for i in items], dtype=np.int64)
            order = -np.arange(len(items), dtype=np.float64)  # popularity order as the score
            slate = draw_slate(order, categories, np.ones(len(items), bool), k, self.options.max_per_category)
        chosen = items[slate.positions]
        probabilities = self.bundle.probabilities(POPULARITY, self.bundle.popularity_scores(chosen))
        return Recommendation(
            user_id=user_id,
            item_ids=[int(i) for i in chosen],
            scores=[None if not np.isfinite(p) else float(p) for p in probabilities],
            propensities=[1.0] * len(slate.positions),
            model_version=self.model_version,
            embedding_version=self.bundle.embedding_version,
            configuration=self.configuration,
            fallback=reason,
            stage_seconds=timer.seconds,
        )
