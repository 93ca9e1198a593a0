"""Feature views and versioned feature services, built from settings so a test can point
them at its own data directory. ``definitions.py`` instantiates them for ``feast apply``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import FeatureService, FeatureView, Field, FileSource
from feast.data_format import ParquetFormat
from feast.types import Array, Float32, Float64, Int64

from feature_repo.entities import item, user
from feature_repo.tables import (
    ITEM_FEATURE_COLUMNS,
    ITEM_FEATURES,
    USER_FEATURE_COLUMNS,
    USER_FEATURES,
    embedding_dir,
    table_glob,
)

FEATURE_SET_VERSION = 1
_FEAST_TYPES = {"int64": Int64, "float64": Float64}
# Daily tables are rewritten every day for every entity active in their window, so a row older
# than a day means "no recent activity" and must come back null (filled with 0 downstream).
DAILY_TTL = timedelta(days=1)


def _schema(columns: dict[str, str]) -> list[Field]:
    return [Field(name=name, dtype=_FEAST_TYPES[kind]) for name, kind in columns.items()]


def _parquet_source(name: str, path: str) -> FileSource:
    return FileSource(
        name=name,
        path=path,
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    )


def user_features_view(features_dir: Path) -> FeatureView:
    return FeatureView(
        name=USER_FEATURES,
        entities=[user],
        ttl=DAILY_TTL,
        schema=_schema(USER_FEATURE_COLUMNS),
        source=_parquet_source(f"{USER_FEATURES}_source", table_glob(features_dir, USER_FEATURES)),
        online=True,
        tags={"stage": "features", "window": "7d,30d"},
    )


def item_features_view(features_dir: Path) -> FeatureView:
    return FeatureView(
        name=ITEM_FEATURES,
        entities=[item],
        ttl=DAILY_TTL,
        schema=_schema(ITEM_FEATURE_COLUMNS),
        source=_parquet_source(f"{ITEM_FEATURES}_source", table_glob(features_dir, ITEM_FEATURES)),
        online=True,
        tags={"stage": "features", "window": "7d,30d"},
    )


def user_embedding_view_name(version: int) -> str:
    return f"user_embedding_v{version}"


def item_embedding_view_name(version: int) -> str:
    return f"item_embedding_v{version}"


def embedding_views(embeddings_dir: Path, version: int) -> tuple[FeatureView, FeatureView]:
    """User and item embedding views of one SASRec model version.

    The version is in the name (and a tag), so a ranker trained on version v reads exactly
    version v offline and online, while a newer version is written beside it.
    """
    directory = embedding_dir(embeddings_dir, version)
    tags = {"stage": "embeddings", "embedding_model_version": str(version)}
    user_view = FeatureView(
        name=user_embedding_view_name(version),
        entities=[user],
        ttl=timedelta(days=0),  # latest as-of-day embedding, however old
        schema=[Field(name="user_embedding", dtype=Array(Float32)), Field(name="embedding_version", dtype=Int64)],
        source=_parquet_source(f"user_embedding_v{version}_source", str(directory / "user_embeddings.parquet")),
        online=True,
        tags=tags,
    )
    item_view = FeatureView(
        name=item_embedding_view_name(version),
        entities=[item],
        ttl=timedelta(days=0),
        schema=[Field(name="item_embedding", dtype=Array(Float32)), Field(name="embedding_version", dtype=Int64)],
        source=_parquet_source(f"item_embedding_v{version}_source", str(directory / "item_embeddings.parquet")),
        online=True,
        tags=tags,
    )
    return user_view, item_view


def ranker_service_name(embedding_version: int) -> str:
    return f"ranker_v{FEATURE_SET_VERSION}_sasrec_v{embedding_version}"


def ranker_service(features_dir: Path, embeddings_dir: Path, embedding_version: int) -> FeatureService:
    """The ranker's inputs: the v1 feature set plus one embedding model version."""
    user_emb, item_emb = embedding_views(embeddings_dir, embedding_version)
    return FeatureService(
        name=ranker_service_name(embedding_version),
        features=[
            user_features_view(features_dir),
            item_features_view(features_dir),
            user_emb[["user_embedding"]],
            item_emb[["item_embedding"]],
        ],
        tags={"feature_set_version": str(FEATURE_SET_VERSION), "embedding_model_version": str(embedding_version)},
    )


def all_objects(features_dir: Path, embeddings_dir: Path, embedding_versions: list[int]) -> list:
    """Every Feast object of the repository for the embedding versions on disk."""
    objects: list = [user, item, user_features_view(features_dir), item_features_view(features_dir)]
    for version in embedding_versions:
        objects.extend(embedding_views(embeddings_dir, version))
        objects.append(ranker_service(features_dir, embeddings_dir, version))
    return objects
