"""Module-level Feast objects for the ``feast`` CLI (``feast -c feature_repo apply``).

Relay's own processes apply the same objects through ``features.feast_store.apply_repo``.
Embedding views exist once per SASRec model version found on disk; they are attached as
module attributes so ``feast apply`` keeps them instead of deleting them.
"""

from core.settings import get_settings
from feature_repo.entities import category, item, user
from feature_repo.tables import ITEM_FEATURES, USER_CATEGORY_FEATURES, USER_FEATURES, embedding_versions
from feature_repo.views import embedding_views, feature_table_view, ranker_service

_settings = get_settings()
user_features = feature_table_view(_settings.features_dir, USER_FEATURES)
item_features = feature_table_view(_settings.features_dir, ITEM_FEATURES)
user_category_features = feature_table_view(_settings.features_dir, USER_CATEGORY_FEATURES)

for _version in embedding_versions(_settings.embeddings_dir):
    for _view in embedding_views(_settings.embeddings_dir, _version):
        globals()[_view.name] = _view
    _service = ranker_service(_settings.features_dir, _settings.embeddings_dir, _version)
    globals()[_service.name] = _service

__all__ = ["category", "item", "item_features", "user", "user_category_features", "user_features"]
