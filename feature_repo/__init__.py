"""Feast feature repository: entities, sources, feature views, versioned services and the DuckDB SQL
that builds the feature tables. Only ``definitions.py`` and its imports are Feast objects; helper
modules that must not run at ``feast apply`` are listed in ``.feastignore``."""
