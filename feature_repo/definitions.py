"""Module-level Feast objects for the ``feast`` CLI (``feast -c feature_repo apply``).

Relay's own processes apply the same objects through ``features.feast_store.apply_repo``.
Embedding views exist once per SASRec model version found on disk; they are attached as
module attributes so ``feast apply`` keeps them instead of deleting them.

Declarations only: the data directory comes from the same ``RELAY_FEAST_*`` variables that
``feature_store.yaml`` reads (``features.feast_store.placeholders`` lists them), so importing
this module never builds Relay's settings.
"""

import os
from pathlib import Path

from feature_repo.entities import category, item, user
from feature_repo.tables import ITEM_FEATURES, USER_CATEGORY_FEATURES, USER_FEATURES, embedding_versions
from feature_repo.views import embedding_views, feature_table_view, ranker_service


def _directory(variable: str) -> Path:
    if variable not in os.environ:
        raise RuntimeError(
            f"{variable} is not set; export the RELAY_FEAST_* variables of your data directory before "
            "running the feast CLI (features.feast_store.placeholders(settings) gives their values)"
        )
    return Path(os.environ[variable])


_features_dir = _directory("RELAY_FEAST_FEATURES_DIR")
_embeddings_dir = _directory("RELAY_FEAST_EMBEDDINGS_DIR")
user_features = feature_table_view(_features_dir, USER_FEATURES)
item_features = feature_table_view(_features_dir, ITEM_FEATURES)
user_category_features = feature_table_view(_features_dir, USER_CATEGORY_FEATURES)

for _version in embedding_versions(_embeddings_dir):
    for _view in embedding_views(_embeddings_dir, _version):
        globals()[_view.name] = _view
    _service = ranker_service(_features_dir, _embeddings_dir, _version)
    globals()[_service.name] = _service

__all__ = ["category", "item", "item_features", "user", "user_category_features", "user_features"]
