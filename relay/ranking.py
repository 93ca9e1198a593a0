"""Build the ranker's training set from Feast, and the served bundle from a trained ranker."""

from __future__ import annotations

import numpy as np
import pandas as pd
from feast import FeatureStore

from feature_repo.retrieval import historical_features
from feature_repo.tables import RANKER_FEATURES, embedding_dir
from training.evaluation import popular_items
from training.ranker.bundle import RankerBundle
from training.ranker.dataset import labelled_impressions, sessions_with_clicks
from training.ranker.lgbm import RankerResult
from training.split import TemporalSplit

POPULAR_FALLBACK_SIZE = 100


def build_training_set(store: FeatureStore, events: pd.DataFrame, embedding_version: int) -> pd.DataFrame:
    """Labelled impressions with point-in-time features as of each impression's timestamp."""
    labelled = sessions_with_clicks(labelled_impressions(events))
    if labelled.empty:
        raise ValueError("no session in the ranker window has both a click and a non-click")
    entity_df = labelled.rename(columns={"ts": "event_timestamp"})
    frame = historical_features(store, entity_df, embedding_version)
    frame = frame.rename(columns={"event_timestamp": "ts"})
    return frame[["session_id", "user_id", "item_id", "ts", "position", "label", *RANKER_FEATURES]]


def item_vectors(embeddings_dir, embedding_version: int) -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_parquet(embedding_dir(embeddings_dir, embedding_version) / "item_embeddings.parquet")
    return table["item_id"].to_numpy(np.int64), np.stack(table["item_embedding"].to_numpy()).astype(np.float32)


def make_bundle(
    result: RankerResult,
    embeddings_dir,
    embedding_version: int,
    recent_clicks: pd.DataFrame,
    split: TemporalSplit,
    service_name: str,
) -> RankerBundle:
    ids, vectors = item_vectors(embeddings_dir, embedding_version)
    return RankerBundle(
        booster=result.model.booster_,
        features=result.features,
        embedding_version=embedding_version,
        item_ids=ids,
        item_vectors=vectors,
        popular_items=popular_items(recent_clicks, POPULAR_FALLBACK_SIZE),
        metadata={"feature_service": service_name, **{f"split_{k}": v for k, v in split.as_dict().items()}},
    )
