"""Feature views and versioned feature services, built from settings so a test can point
them at its own data directory. ``definitions.py`` instantiates them for ``feast apply``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import FeatureService, FeatureView, Field, FileSource
from feast.data_format import ParquetFormat
from feast.types import Array, Float32, Float64, Int64

from feature_repo.entities import ENTITIES, category, item, user
from feature_repo.tables import FEATURE_TABLES, TABLE_KEYS, WINDOWS, embedding_dir, table_glob, table_specs

FEATURE_SET_VERSION = 2
_FEAST_TYPES = {"int64": Int64, "float64": Float64}
# Daily tables are rewritten every day for every entity active in their window, so a row older
# than a day means "no recent activity" and must come back null (filled downstream).
DAILY_TTL = timedelta(days=1)


def _parquet_source(name: str, path: str) -> FileSource:
    return FileSource(
        name=name,
        path=path,
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    )


def feature_table_view(features_dir: Path, table: str) -> FeatureView:
    """The Feast view of one daily feature table, its schema taken from the table's specs."""
    return FeatureView(
        name=table,
        entities=[ENTITIES[key] for key in TABLE_KEYS[table]],
        ttl=DAILY_TTL,
        schema=[Field(name=s.name, dtype=_FEAST_TYPES[s.kind], description=s.description) for s in table_specs(table)],
        source=_parquet_source(f"{table}_source", table_glob(features_dir, table)),
        online=True,
        tags={"stage": "features", "windows": ",".join(f"{w}d" for w in WINDOWS)},
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
        schema=[
            Field(name="user_embedding", dtype=Array(Float32)),
            Field(name="recent_items", dtype=Array(Int64), description="distinct items of the last 100 clicks"),
            Field(name="embedding_version", dtype=Int64),
        ],
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
    """The ranker's inputs: feature set v2 (user, item, user x category) plus one embedding version."""
    user_emb, item_emb = embedding_views(embeddings_dir, embedding_version)
    return FeatureService(
        name=ranker_service_name(embedding_version),
        features=[
            *(feature_table_view(features_dir, table) for table in FEATURE_TABLES),
            user_emb[["user_embedding"]],
            item_emb[["item_embedding"]],
        ],
        tags={"feature_set_version": str(FEATURE_SET_VERSION), "embedding_model_version": str(embedding_version)},
    )


def all_objects(features_dir: Path, embeddings_dir: Path, embedding_versions: list[int]) -> list:
    """Every Feast object of the repository for the embedding versions on disk."""
    objects: list = [user, item, category, *(feature_table_view(features_dir, table) for table in FEATURE_TABLES)]
    for version in embedding_versions:
        objects.extend(embedding_views(embeddings_dir, version))
        objects.append(ranker_service(features_dir, embeddings_dir, version))
    return objects
