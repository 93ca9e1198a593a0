"""Feast feature repository: declarations only (entities, sources, feature views, versioned
services, and the feature-table specs they are generated from). The builders that compute the
tables and the retrieval code live beside it, in ``features/``."""

from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent  # Feast's repo_path: feature_store.yaml lives here
