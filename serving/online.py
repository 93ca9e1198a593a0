"""Online features for one request, read from Feast and assembled as the ranker's matrix.

The ranker's feature service joins user, item and user x category views. Asking Feast for it
with 200 (user, item, category) rows reads the same user row 200 times and then fills and
derives features column by column in pandas (~30 ms). Serving instead reads the user once, the
user x category rows once per distinct category, and the item side from a snapshot of the item
views, re-read from the online store when those are re-materialized (checked every ``ttl_s``;
item features change once a day), then fills and derives with the specs' rules in numpy.
``tests/test_serving.py`` holds the matrix equal to ``finalize_features`` over the service's rows.

These reads raise when the store does; ``serving.online_guard`` decides what a request does then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import structlog
from feast import FeatureStore

from feature_repo.tables import ITEM_FEATURES, SPECS, USER_CATEGORY_FEATURES, USER_FEATURES, table_specs
from feature_repo.views import item_embedding_view_name, user_embedding_view_name
from serving.online_probe import PROBE_ITEMS, Probe, probe_items

EPOCH = pd.Timestamp(0, tz="UTC")
log = structlog.get_logger("relay.serving")
# Reads the user x category rows of (user id, sorted distinct categories) -> filled rows.
CategoryReader = Callable[[int, np.ndarray], np.ndarray]


def _refs(view: str, names: list[str]) -> list[str]:
    return [f"{view}:{name}" for name in names]


def _filled(names: list[str], columns: dict[str, object]) -> np.ndarray:
    """(rows, len(names)) float64 with each spec's fill for absent entities, as ``finalize_features``."""
    out = np.array([columns[name] for name in names], dtype=np.float64).T  # None -> NaN
    fills = np.array([np.nan if SPECS[n].fill is None else SPECS[n].fill for n in names], dtype=np.float64)
    return np.where(np.isnan(out), fills, out)


def _vectors(values: list, dim: int) -> np.ndarray:
    """Embedding lists as a float32 matrix; missing ones become NaN rows."""
    out = np.full((len(values), dim), np.nan, dtype=np.float32)
    for row, vector in enumerate(values):
        if vector is not None and len(vector) == dim:
            out[row] = vector
    return out


@dataclass(frozen=True)
class UserRow:
    values: np.ndarray  # the user-table features, filled, in ``OnlineReader.user_names`` order
    vector: np.ndarray | None  # the user embedding, None when the user has none yet
    recent_items: np.ndarray  # items the user consumed recently (may be empty)


@dataclass(frozen=True)
class ItemSnapshot:
    values: np.ndarray  # (items, item features), filled
    vectors: np.ndarray  # (items, dim) float32, NaN rows where the online store has no embedding
    read_at: float
    materialized: tuple  # the item views' last materialization intervals when read


class OnlineReader:
    """Feast online lookups for one embedding version, assembled in ``features`` order."""

    def __init__(
        self,
        store: FeatureStore,
        item_ids: np.ndarray,
        features: list[str],
        embedding_version: int,
        dim: int,
        ttl_s: float = 60.0,
    ) -> None:
        self.store, self.features, self.dim, self.ttl_s = store, list(features), dim, ttl_s
        self.embedding_version = embedding_version
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.user_names = [s.name for s in table_specs(USER_FEATURES)]
        self.item_names = [s.name for s in table_specs(ITEM_FEATURES)]
        self.category_names = [s.name for s in table_specs(USER_CATEGORY_FEATURES)]
        self.user_refs = [
            *_refs(USER_FEATURES, self.user_names),
            *_refs(user_embedding_view_name(embedding_version), ["user_embedding", "recent_items"]),
        ]
        self.item_refs = [
            *_refs(ITEM_FEATURES, self.item_names),
            *_refs(item_embedding_view_name(embedding_version), ["item_embedding"]),
        ]
        self.category_refs = _refs(USER_CATEGORY_FEATURES, self.category_names)
        self._layout = self._column_layout()
        self._snapshot = self._read_items()
        self._refreshing = threading.Lock()

    def _column_layout(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """For each source, (columns of the output, columns of the source) to copy."""
        layout = {}
        for source, names in (("user", self.user_names), ("item", self.item_names), ("category", self.category_names)):
            pairs = [(self.features.index(n), names.index(n)) for n in names if n in self.features]
            layout[source] = (np.array([p[0] for p in pairs], int), np.array([p[1] for p in pairs], int))
        known = (
            set(self.user_names)
            | set(self.item_names)
            | set(self.category_names)
            | {"user_recency_s", "sasrec_score", "retrieval_rank"}
        )
        unknown = [name for name in self.features if name not in known]
        if unknown:
            raise ValueError(f"the ranker reads features serving cannot assemble: {unknown}")
        return layout

    # -- item side -------------------------------------------------------------------
    def _read_items(self) -> ItemSnapshot:
        materialized = self._materialized()
        rows = [{"item_id": int(item)} for item in self.item_ids]
        values = self.store.get_online_features(features=self.item_refs, entity_rows=rows).to_dict()
        return ItemSnapshot(
            values=_filled(self.item_names, values),
            vectors=_vectors(values["item_embedding"], self.dim),
            read_at=time.monotonic(),
            materialized=materialized,
        )

    def refresh_items(self) -> None:
        """Re-read the item side now (the snapshot swaps atomically)."""
        self._snapshot = self._read_items()

    def _materialized(self) -> tuple:
        """When the item views were last materialized (from the cached registry, ~3 ms)."""
        names = [ITEM_FEATURES, self.item_refs[-1].split(":")[0]]
        return tuple(tuple(self.store.get_feature_view(name).materialization_intervals[-1:]) for name in names)

    def _maybe_refresh(self) -> ItemSnapshot:
        """Every ``ttl_s``, a background check re-reads the item side only if it was re-materialized:
        the read holds the GIL for most of a second on a 1,000-item catalogue, so it runs once a day,
        not once a minute."""
        snapshot = self._snapshot
        if time.monotonic() - snapshot.read_at >= self.ttl_s and self._refreshing.acquire(blocking=False):

            def refresh() -> None:
                try:
                    if self._materialized() != snapshot.materialized:
                        self.refresh_items()
                    else:
                        self._snapshot = replace(snapshot, read_at=time.monotonic())
                except Exception as error:  # the store is down: keep serving the snapshot, retry after ttl_s
                    self._snapshot = replace(snapshot, read_at=time.monotonic())
                    log.warning("item_features_refresh_failed", error=f"{type(error).__name__}: {error}")
                finally:
                    self._refreshing.release()

            threading.Thread(target=refresh, name="item-features-refresh", daemon=True).start()
        return snapshot

    # -- user side -------------------------------------------------------------------
    def user(self, user_id: int) -> UserRow:
        values = self.store.get_online_features(features=self.user_refs, entity_rows=[{"user_id": user_id}]).to_dict()
        vector, recent = values["user_embedding"][0], values["recent_items"][0]
        has_vector = vector is not None and len(vector) > 0
        return UserRow(
            values=_filled(self.user_names, values)[0],
            vector=np.asarray(vector, dtype=np.float32) if has_vector else None,
            recent_items=np.asarray(recent if recent is not None else [], dtype=np.int64),
        )

    def user_categories(self, user_id: int, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct categories (sorted) and their user x category features, filled."""
        distinct = np.unique(categories)
        return distinct, self.category_rows(user_id, distinct)

    def category_rows(self, user_id: int, distinct: np.ndarray) -> np.ndarray:
        rows = [{"user_id": user_id, "category": int(c)} for c in distinct]
        values = self.store.get_online_features(features=self.category_refs, entity_rows=rows).to_dict()
        return _filled(self.category_names, values)

    def absent_categories(self, count: int) -> np.ndarray:
        """``count`` user x category rows as for entities the store has no row for (the specs' fills)."""
        return _filled(self.category_names, {name: [None] * count for name in self.category_names})

    def probe(self, count: int = PROBE_ITEMS) -> Probe:
        """Read back ``count`` items the snapshot has embeddings for: keys the store must hold."""
        known = self.item_ids[np.isfinite(self._snapshot.vectors).all(axis=1)][:count]
        return probe_items(self.store, self.embedding_version, known)

    # -- the ranker's input ------------------------------------------------------------
    def matrix(
        self,
        user: UserRow,
        user_id: int,
        positions: np.ndarray,
        categories: np.ndarray,
        now: pd.Timestamp,
        ranks: np.ndarray | None = None,
        category_reader: CategoryReader | None = None,
    ) -> np.ndarray:
        """(candidates, features) in ``features`` order, equal to ``finalize_features`` of the
        service's rows; ``ranks`` are the candidates' 0-based retrieval ranks (missing if None).
        ``category_reader`` replaces the store read of the user x category rows (the guarded one)."""
        snapshot = self._maybe_refresh()
        out = np.empty((len(positions), len(self.features)), dtype=np.float64)
        to, source = self._layout["item"]
        out[:, to] = snapshot.values[positions][:, source]
        to, source = self._layout["user"]
        out[:, to] = user.values[source]
        distinct = np.unique(categories)
        by_category = (category_reader or self.category_rows)(user_id, distinct)
        to, source = self._layout["category"]
        out[:, to] = by_category[np.searchsorted(distinct, categories)][:, source]
        if "user_recency_s" in self.features:
            last = user.values[self.user_names.index("user_last_event_ts")]
            out[:, self.features.index("user_recency_s")] = np.maximum((now - EPOCH).total_seconds() - last, 0.0)
        if "sasrec_score" in self.features:
            scores = snapshot.vectors[positions].astype(np.float32) @ user.vector if user.vector is not None else np.nan
            out[:, self.features.index("sasrec_score")] = scores
        if "retrieval_rank" in self.features:
            out[:, self.features.index("retrieval_rank")] = np.nan if ranks is None else ranks
        return out
