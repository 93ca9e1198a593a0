"""Fetch the ranker's features from Feast, offline (point in time) and online, in one shape.

Every path ends in ``finalize_features``, so training and serving fill missing values and
compute request-time features (recency, the SASRec score) identically: no train/serve skew
by construction. Large offline builds go through the ASOF path generated from the same Feast
definitions (``features.asof``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from feast import FeatureStore

from feature_repo.tables import SPECS
from feature_repo.views import ranker_service_name, user_embedding_view_name
from features.asof import asof_historical_features

ASOF_THRESHOLD_ROWS = 50_000  # above this many entity rows, retrieval uses the ASOF path
UNKNOWN_CATEGORY = -1
# finalize_features in SQL, for the ASOF path (the point-in-time tests hold the two equal).
SQL_FILLS = {name: spec.fill for name, spec in SPECS.items() if spec.table is not None and spec.fill is not None}
SQL_DERIVED = {
    "user_recency_s": "CASE WHEN user_last_event_ts IS NOT NULL "
    "THEN greatest(epoch(event_timestamp) - user_last_event_ts, 0) END",
    "sasrec_score": "list_dot_product(user_embedding, item_embedding)",
}


def with_categories(entity_df: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Add each item's category (the user x category views join on it); unknown items get -1."""
    lookup = catalog.set_index("item_id")["category"]
    categories = entity_df["item_id"].map(lookup)
    return entity_df.assign(category=categories.fillna(UNKNOWN_CATEGORY).astype("int64"))


def _is_vector(value: object) -> bool:
    """A non-empty embedding (missing ones arrive as None, NaN or pd.NA depending on the path)."""
    return isinstance(value, list | tuple | np.ndarray) and len(value) > 0


def sasrec_scores(user_vectors: pd.Series, item_vectors: pd.Series) -> np.ndarray:
    """Row-wise dot product of embedding lists; NaN where either side is missing."""
    scores = np.full(len(user_vectors), np.nan)
    present = user_vectors.map(_is_vector).to_numpy(bool) & item_vectors.map(_is_vector).to_numpy(bool)
    if present.any():
        users = np.stack(user_vectors[present].to_numpy()).astype(np.float32)
        items = np.stack(item_vectors[present].to_numpy()).astype(np.float32)
        scores[present] = np.einsum("ij,ij->i", users, items)
    return scores


def finalize_features(frame: pd.DataFrame, request_ts: pd.Series | pd.Timestamp) -> pd.DataFrame:
    """Fill absent entities per spec, add recency and the SASRec score, as float64 columns."""
    out = frame.copy()
    for name, spec in SPECS.items():
        if spec.table is None:
            continue
        values = pd.to_numeric(out[name], errors="coerce").astype("float64")
        out[name] = values.fillna(spec.fill) if spec.fill is not None else values
    now = pd.to_datetime(request_ts, utc=True)
    epoch = pd.Timestamp(0, tz="UTC")
    # Unit-safe (Feast may hand back microsecond timestamps): seconds since the epoch.
    now_s = (now - epoch).dt.total_seconds().to_numpy() if isinstance(now, pd.Series) else (now - epoch).total_seconds()
    out["user_recency_s"] = (now_s - out["user_last_event_ts"].to_numpy(dtype=float)).clip(min=0)
    out["sasrec_score"] = sasrec_scores(out["user_embedding"], out["item_embedding"])
    return with_retrieval_rank(out)


def with_retrieval_rank(frame: pd.DataFrame) -> pd.DataFrame:
    """The first stage's rank travels with the entity row; rows that were not retrieved (a
    feature-equality check, an old caller) get it missing, never a made-up rank."""
    if "retrieval_rank" not in frame.columns:
        return frame.assign(retrieval_rank=np.nan)
    return frame.assign(retrieval_rank=pd.to_numeric(frame["retrieval_rank"], errors="coerce").astype("float64"))


def historical_features(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    embedding_version: int,
    catalog: pd.DataFrame,
    method: str = "auto",
    keep_embeddings: bool = False,
) -> pd.DataFrame:
    """Point-in-time features for (user_id, item_id, event_timestamp) rows; extra columns pass through.

    ``method`` is ``feast`` (``get_historical_features`` with the knowledge-time cutoff), ``asof``
    (one DuckDB ASOF JOIN from the same definitions) or ``auto`` (ASOF above a size threshold).
    Row order is the input's.
    """
    entities = with_categories(entity_df.reset_index(drop=True), catalog)
    # Feast's offline stores work in microseconds; finer stamps would fail its cast.
    stamps = pd.to_datetime(entities["event_timestamp"], utc=True).astype("datetime64[ns, UTC]")
    entities["event_timestamp"] = stamps.dt.floor("us")
    service = store.get_feature_service(ranker_service_name(embedding_version))
    if method == "auto":
        method = "asof" if len(entities) > ASOF_THRESHOLD_ROWS else "feast"
    if method == "asof":
        # Relay's tables satisfy the ASOF preconditions by contract (unique keys, knowledge-time
        # stamps), so the scan that checks them is skipped; fills and request-time features are
        # computed in the same DuckDB query, with the semantics of ``finalize_features``.
        drop = () if keep_embeddings else ("user_embedding", "item_embedding")
        frame = asof_historical_features(
            store, service, entities, check=False, fills=SQL_FILLS, derived=SQL_DERIVED, drop=drop
        )
        return with_retrieval_rank(frame.astype({name: "float64" for name in SPECS if name in frame.columns}))
    if method == "feast":
        entities = entities.assign(_row=np.arange(len(entities)))
        frame = store.get_historical_features(
            entity_df=entities, features=service, filter_by_created_timestamp=True
        ).to_df()
        frame = frame.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    else:
        raise ValueError(f"unknown retrieval method {method!r}; use feast, asof or auto")
    frame = finalize_features(frame, frame["event_timestamp"])
    return frame if keep_embeddings else frame.drop(columns=["user_embedding", "item_embedding"])


def online_features(
    store: FeatureStore,
    user_id: int,
    item_ids: np.ndarray,
    categories: np.ndarray,
    embedding_version: int,
    now: pd.Timestamp,
) -> pd.DataFrame:
    """Serving-time features for one user and candidate items, from the online store."""
    rows = [
        {"user_id": int(user_id), "item_id": int(i), "category": int(c)}
        for i, c in zip(item_ids, categories, strict=True)
    ]
    service = store.get_feature_service(ranker_service_name(embedding_version))
    frame = store.get_online_features(features=service, entity_rows=rows).to_df()
    return finalize_features(frame, now)


def historical_user_states(
    store: FeatureStore, user_ids: np.ndarray, as_of: pd.Timestamp, embedding_version: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each user's embedding and recently consumed items (the seen-item rule's input), as known
    at ``as_of``: what serving reads online at that moment. Users without an embedding are absent."""
    entities = pd.DataFrame({"user_id": np.asarray(user_ids, dtype=np.int64), "event_timestamp": as_of})
    view = user_embedding_view_name(embedding_version)
    frame = store.get_historical_features(
        entity_df=entities,
        features=[f"{view}:user_embedding", f"{view}:recent_items"],
        filter_by_created_timestamp=True,
    ).to_df()
    present = frame["user_embedding"].map(_is_vector)
    return {
        int(user): (
            np.asarray(vector, dtype=np.float32),
            np.asarray(recent if isinstance(recent, list | np.ndarray) else [], dtype=np.int64),
        )
        for user, vector, recent in zip(
            frame.loc[present, "user_id"],
            frame.loc[present, "user_embedding"],
            frame.loc[present, "recent_items"],
            strict=True,
        )
    }


def historical_user_vectors(
    store: FeatureStore, user_ids: np.ndarray, as_of: pd.Timestamp, embedding_version: int
) -> dict[int, np.ndarray]:
    """Each user's embedding as known at ``as_of`` (users without one are absent)."""
    return {
        user: vector for user, (vector, _) in historical_user_states(store, user_ids, as_of, embedding_version).items()
    }
