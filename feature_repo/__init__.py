"""Feast feature repository: declarations only (entities, sources, feature views, versioned
services, and the feature-table specs they are generated from). The builders that compute the
tables and the retrieval code live beside it, in ``features/``."""
