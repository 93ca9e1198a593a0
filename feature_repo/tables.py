"""Names, columns and on-disk locations of the feature tables, shared by the SQL builders,
the Feast sources and the pandera contracts so the three cannot drift apart."""

from __future__ import annotations

from pathlib import Path

USER_FEATURES = "user_features"
ITEM_FEATURES = "item_features"

USER_FEATURE_COLUMNS: dict[str, str] = {
    "user_impressions_7d": "int64",
    "user_clicks_7d": "int64",
    "user_ctr_7d": "float64",
    "user_timespent_mean_7d": "float64",
    "user_clicks_30d": "int64",
    "user_active_days_30d": "int64",
}
ITEM_FEATURE_COLUMNS: dict[str, str] = {
    "item_impressions_7d": "int64",
    "item_clicks_7d": "int64",
    "item_ctr_7d": "float64",
    "item_timespent_mean_7d": "float64",
    "item_clicks_30d": "int64",
}
# Computed at request time from the embedding model, never stored.
ON_THE_FLY_FEATURES = ("sasrec_score",)
RANKER_FEATURES: tuple[str, ...] = (*USER_FEATURE_COLUMNS, *ITEM_FEATURE_COLUMNS, *ON_THE_FLY_FEATURES)


def table_dir(features_dir: Path, table: str) -> Path:
    return features_dir / table


def table_glob(features_dir: Path, table: str) -> str:
    """Glob over the table's daily partitions (``date=YYYY-MM-DD/part.parquet``)."""
    return str(table_dir(features_dir, table) / "*" / "*.parquet")


def embedding_dir(embeddings_dir: Path, version: int) -> Path:
    return embeddings_dir / f"v{version}"


def embedding_versions(embeddings_dir: Path) -> list[int]:
    """Embedding model versions with tables on disk, ascending."""
    if not embeddings_dir.exists():
        return []
    found = []
    for path in embeddings_dir.glob("v*"):
        if path.is_dir() and path.name[1:].isdigit() and (path / "user_embeddings.parquet").exists():
            found.append(int(path.name[1:]))
    return sorted(found)
