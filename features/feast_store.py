"""Open the Feast store for a Relay profile and apply the repository's objects.

The profile's ``feature_store.yaml`` is the single description of the stores; Relay fills its
``${RELAY_FEAST_*}`` placeholders from settings instead of mutating the process environment,
so two stores with different data directories can live in one process (tests do that).
"""

from __future__ import annotations

import os
from string import Template

import yaml
from feast import FeatureStore, RepoConfig

from core.settings import REPO_ROOT, RelaySettings
from feature_repo import REPO_DIR
from feature_repo.tables import embedding_versions
from feature_repo.views import all_objects

FEATURE_REPO_DIR = REPO_DIR
PROFILE_YAML = {
    "embedded": FEATURE_REPO_DIR / "feature_store.yaml",
    "production": REPO_ROOT / "infra" / "production" / "feature_store.yaml",
}


def placeholders(settings: RelaySettings) -> dict[str, str]:
    """Values for the ``${RELAY_FEAST_*}`` placeholders of the profile YAML."""
    return {
        "RELAY_FEAST_REGISTRY": str(settings.feast_dir / "registry.db"),
        "RELAY_FEAST_ONLINE_PATH": str(settings.feast_dir / "online.db"),
        "RELAY_FEAST_REGISTRY_URL": settings.database_url("feast"),
        "RELAY_FEAST_PROJECT": settings.feast_project,
        "RELAY_REDIS_URL": settings.redis_url,
        "RELAY_FEAST_FEATURES_DIR": str(settings.features_dir),
        "RELAY_FEAST_EMBEDDINGS_DIR": str(settings.embeddings_dir),
    }


def load_repo_config(settings: RelaySettings) -> RepoConfig:
    yaml_path = PROFILE_YAML[settings.profile]
    text = Template(yaml_path.read_text()).safe_substitute(placeholders(settings))
    raw = yaml.safe_load(os.path.expandvars(text))
    config = RepoConfig(**raw)
    config.repo_path = FEATURE_REPO_DIR
    return config


def open_store(settings: RelaySettings) -> FeatureStore:
    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=load_repo_config(settings))


def repo_objects(settings: RelaySettings) -> list:
    return all_objects(settings.features_dir, settings.embeddings_dir, embedding_versions(settings.embeddings_dir))


def apply_repo(store: FeatureStore, settings: RelaySettings) -> list[str]:
    """Register every entity, view and service (additively); returns the applied names."""
    objects = repo_objects(settings)
    store.apply(objects)
    return sorted(obj.name for obj in objects)
