"""Fetch the ranker's features from Feast, offline (point in time) and online, in one shape.

Both paths end in ``finalize_features`` so training and serving compute missing-value
handling and the SASRec score identically: no train/serve skew by construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from feast import FeatureStore

from feature_repo.tables import ITEM_FEATURE_COLUMNS, RANKER_FEATURES, USER_FEATURE_COLUMNS
from feature_repo.views import ranker_service_name, user_embedding_view_name

# Counts of an entity absent from a window are 0; ratios stay NaN (LightGBM treats NaN as missing).
COUNT_FEATURES = [c for c, kind in {**USER_FEATURE_COLUMNS, **ITEM_FEATURE_COLUMNS}.items() if kind == "int64"]


def sasrec_scores(user_vectors: pd.Series, item_vectors: pd.Series) -> np.ndarray:
    """Row-wise dot product of embedding lists; NaN where either side is missing."""
    scores = np.full(len(user_vectors), np.nan)
    present = (
        user_vectors.map(lambda v: v is not None and len(v) > 0).to_numpy()
        & item_vectors.map(lambda v: v is not None and len(v) > 0).to_numpy()
    )
    if present.any():
        users = np.stack(user_vectors[present].to_numpy()).astype(np.float32)
        items = np.stack(item_vectors[present].to_numpy()).astype(np.float32)
        scores[present] = np.einsum("ij,ij->i", users, items)
    return scores


def finalize_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill absent counts with 0, compute ``sasrec_score``, and order columns as the ranker expects."""
    out = frame.copy()
    for column in COUNT_FEATURES:
        out[column] = out[column].fillna(0).astype("float64")
    for column in set(RANKER_FEATURES) - set(COUNT_FEATURES) - {"sasrec_score"}:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out["sasrec_score"] = sasrec_scores(out["user_embedding"], out["item_embedding"])
    return out


def historical_features(store: FeatureStore, entity_df: pd.DataFrame, embedding_version: int) -> pd.DataFrame:
    """Point-in-time features for (user_id, item_id, event_timestamp) rows; extra columns pass through.

    Row order is restored from a private row id, because Feast may reorder rows.
    """
    entities = entity_df.reset_index(drop=True).assign(_row=lambda f: np.arange(len(f)))
    service = store.get_feature_service(ranker_service_name(embedding_version))
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    frame = frame.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    return finalize_features(frame)


def online_features(store: FeatureStore, user_id: int, item_ids: np.ndarray, embedding_version: int) -> pd.DataFrame:
    """Serving-time features for one user and candidate items, from the online store."""
    rows = [{"user_id": int(user_id), "item_id": int(i)} for i in item_ids]
    service = store.get_feature_service(ranker_service_name(embedding_version))
    frame = store.get_online_features(features=service, entity_rows=rows).to_df()
    return finalize_features(frame)


def historical_user_vectors(
    store: FeatureStore, user_ids: np.ndarray, as_of: pd.Timestamp, embedding_version: int
) -> dict[int, np.ndarray]:
    """Each user's embedding as known at ``as_of`` (users without one are absent)."""
    entities = pd.DataFrame({"user_id": np.asarray(user_ids, dtype=np.int64), "event_timestamp": as_of})
    frame = store.get_historical_features(
        entity_df=entities, features=[f"{user_embedding_view_name(embedding_version)}:user_embedding"]
    ).to_df()
    present = frame["user_embedding"].map(lambda v: v is not None and len(v) > 0)
    return {
        int(user): np.asarray(vector, dtype=np.float32)
        for user, vector in zip(frame.loc[present, "user_id"], frame.loc[present, "user_embedding"], strict=True)
    }
