"""The serving contract between a ranker bundle and the feature store: the same embedding version.

A ranker trained on SASRec version v scores ``sasrec_score`` from version v's user vectors and
its own item vectors. Serving it with another version's features would silently feed it
numbers from a different embedding space, so loading refuses unless the store's online item
embeddings of version v are exactly the bundle's.
"""

from __future__ import annotations

import numpy as np
from feast import FeatureStore
from feast.errors import FeatureViewNotFoundException

from feature_repo.views import item_embedding_view_name
from training.ranker.bundle import RankerBundle


class EmbeddingVersionMismatch(RuntimeError):
    """The feature store does not serve the embedding version the ranker was trained with."""


def verify_embeddings(store: FeatureStore, bundle: RankerBundle) -> int:
    """Raise ``EmbeddingVersionMismatch`` unless the online store serves the bundle's embedding
    version with identical item vectors; returns the number of items compared."""
    version = bundle.embedding_version
    view_name = item_embedding_view_name(version)
    try:
        view = store.get_feature_view(view_name)
    except FeatureViewNotFoundException as missing:
        raise EmbeddingVersionMismatch(
            f"the ranker was trained on SASRec embeddings v{version}, but the feature store has no view {view_name}"
        ) from missing
    if view.tags.get("embedding_model_version") != str(version):
        raise EmbeddingVersionMismatch(
            f"view {view_name} is tagged embedding_model_version={view.tags.get('embedding_model_version')}, "
            f"the ranker needs {version}"
        )
    rows = [{"item_id": int(item)} for item in bundle.item_ids]
    served = store.get_online_features(features=[f"{view_name}:item_embedding"], entity_rows=rows).to_dict()
    vectors = served["item_embedding"]
    missing = sum(v is None for v in vectors)
    if missing:
        raise EmbeddingVersionMismatch(f"{missing} of {len(rows)} items have no online embedding in {view_name}")
    online = np.asarray(vectors, dtype=np.float32)
    if online.shape != bundle.item_vectors.shape or not np.allclose(online, bundle.item_vectors, atol=1e-6):
        raise EmbeddingVersionMismatch(
            f"the online item embeddings of {view_name} differ from the ranker's own: another model wrote them"
        )
    return len(rows)
