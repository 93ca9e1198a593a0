"""Publish a SASRec version's embeddings: as-of-day tables written, registered and served by Feast.

The champion ranker's embedding version is refreshed with the same histories, so the model
that keeps serving sees today's users too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from feast import FeatureStore

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from training import registry
from training.sasrec.embedding_tables import serve_embeddings, write_embedding_tables
from training.split import TemporalSplit


@dataclass(frozen=True)
class PublishedEmbeddings:
    version: int
    user_rows: int
    users: int
    items: int
    refreshed_champion_version: int | None  # the champion's embedding version, when refreshed too
    online_loads: dict[str, dict[str, object]]  # per Feast view: rows and seconds of the online load
    user_preview: pd.DataFrame = field(compare=False, repr=False)


def publish_embeddings(
    settings: RelaySettings, store: FeatureStore, version: int, split: TemporalSplit
) -> PublishedEmbeddings:
    """Embed every user's clicks with SASRec ``version`` (items valid from the ranker window),
    load them online, and refresh the champion's embedding version when it is another one."""
    registry.configure(settings)
    with lake.connect(settings) as con:
        clicks = read_events(con, event_type="click")
    model, vocabulary = registry.load_sasrec(settings.sasrec_model_name, version)
    tables = write_embedding_tables(settings, model, vocabulary, clicks, version, split.ranker_start_ts)
    first_day = clicks["ts"].min().floor("D")
    online = serve_embeddings(store, settings, version, first_day, split.end_ts)

    refreshed = None
    champion_embedding = registry.champion_embedding_version(settings.ranker_model_name)
    if champion_embedding is not None and champion_embedding != version:
        old_model, old_vocabulary = registry.load_sasrec(settings.sasrec_model_name, champion_embedding)
        write_embedding_tables(settings, old_model, old_vocabulary, clicks, champion_embedding, valid_from=None)
        online |= serve_embeddings(store, settings, champion_embedding, first_day, split.end_ts)
        refreshed = champion_embedding
    return PublishedEmbeddings(
        version=version,
        user_rows=tables.user_rows,
        users=tables.users,
        items=tables.item_rows,
        refreshed_champion_version=refreshed,
        online_loads=online,
        user_preview=tables.user_preview,
    )
