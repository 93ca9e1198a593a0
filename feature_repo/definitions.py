"""Module-level Feast objects for the ``feast`` CLI (``feast -c feature_repo apply``).

Relay's own processes apply the same objects through ``feature_repo.store.apply_repo``.
Embedding views exist once per SASRec model version found on disk; they are attached as
module attributes so ``feast apply`` keeps them instead of deleting them.
"""

from feature_repo.entities import item, user
from feature_repo.tables import embedding_versions
from feature_repo.views import embedding_views, item_features_view, ranker_service, user_features_view
from relay.config import get_settings

_settings = get_settings()
user_features = user_features_view(_settings.features_dir)
item_features = item_features_view(_settings.features_dir)

for _version in embedding_versions(_settings.embeddings_dir):
    for _view in embedding_views(_settings.embeddings_dir, _version):
        globals()[_view.name] = _view
    _service = ranker_service(_settings.features_dir, _settings.embeddings_dir, _version)
    globals()[_service.name] = _service

__all__ = ["item", "item_features", "user", "user_features"]
