"""Write a SASRec version's embedding tables and serve them through Feast."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from feast import FeatureStore

from core.settings import RelaySettings
from feature_repo.tables import embedding_dir
from feature_repo.views import item_embedding_view_name, user_embedding_view_name
from features.feast_store import apply_repo
from quality.contracts import ItemEmbeddings, UserEmbeddings
from training.sasrec.collapse import check_not_collapsed
from training.sasrec.data import Vocabulary
from training.sasrec.embed import item_embedding_table, user_embedding_table
from training.sasrec.model import SASRec


@dataclass(frozen=True)
class EmbeddingTables:
    version: int
    user_rows: int
    item_rows: int
    users: int
    user_preview: pd.DataFrame


def _write(directory, name: str, frame: pd.DataFrame) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(directory / name)


def write_embedding_tables(
    settings: RelaySettings,
    model: SASRec,
    vocabulary: Vocabulary,
    clicks: pd.DataFrame,
    version: int,
    valid_from: pd.Timestamp | None,
) -> EmbeddingTables:
    """As-of-day user embeddings over all ``clicks``, written atomically; the item table too
    unless ``valid_from`` is None (a refresh of an existing version's user histories)."""
    directory = embedding_dir(settings.embeddings_dir, version)
    users = UserEmbeddings.validate(user_embedding_table(model, vocabulary, clicks, version), lazy=True)
    check_not_collapsed(np.stack(users["user_embedding"].to_numpy()), version)
    _write(directory, "user_embeddings.parquet", users)
    item_rows = len(vocabulary)
    if valid_from is not None:
        items = ItemEmbeddings.validate(item_embedding_table(model, vocabulary, valid_from, version), lazy=True)
        _write(directory, "item_embeddings.parquet", items)
    return EmbeddingTables(version, len(users), item_rows, users["user_id"].nunique(), users.head())


def serve_embeddings(
    store: FeatureStore, settings: RelaySettings, version: int, start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, dict[str, object]]:
    """Register the version's views and load online only the rows new since the last load.

    A view never loaded starts at ``start``; afterwards each call continues from the view's
    last materialized end (Feast keeps it in the registry). Returns rows and seconds per view.
    """
    apply_repo(store, settings)
    report = {}
    stop = (end + timedelta(days=2)).to_pydatetime()
    directory = embedding_dir(settings.embeddings_dir, version)
    views = (
        (user_embedding_view_name(version), "user_embeddings.parquet"),
        (item_embedding_view_name(version), "item_embeddings.parquet"),
    )
    for view_name, file in views:
        previous = store.get_feature_view(view_name).most_recent_end_time
        begin = previous if previous is not None else start.to_pydatetime()
        began = time.perf_counter()
        store.materialize(start_date=begin, end_date=stop, feature_views=[view_name])
        stamps = pd.read_parquet(directory / file, columns=["event_timestamp"])["event_timestamp"]
        rows = int(((stamps >= pd.Timestamp(begin)) & (stamps < pd.Timestamp(stop))).sum())
        report[view_name] = {
            "from": pd.Timestamp(begin).isoformat(),
            "rows": rows,
            "seconds": round(time.perf_counter() - began, 3),
        }
    return report
