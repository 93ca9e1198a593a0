"""Does the online store answer, and does it still hold what was materialized into it?

A Redis that restarts without persistence comes back up and answers every read with "no row":
nothing fails, every user just gets the popularity fallback. A few keys that must be there (the
item embeddings of a version the registry says was loaded online) tell that apart from a store
that is merely missing some users. Serving's health and the repair sensor ask the same question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from feast import FeatureStore

from core.settings import RelaySettings
from feature_repo.tables import embedding_dir, embedding_versions
from feature_repo.views import item_embedding_view_name

ProbeState = Literal["ok", "empty", "unavailable", "unknown"]
PROBE_ITEMS = 5


@dataclass(frozen=True)
class Probe:
    state: ProbeState  # unknown: nothing was materialized online yet, so nothing can be missing
    present: int = 0  # probed keys the store holds
    probed: int = 0
    view: str | None = None
    error: str | None = None


def probe_items(store: FeatureStore, embedding_version: int, item_ids: np.ndarray) -> Probe:
    """Read the item embeddings of ``item_ids`` (keys that were loaded): none present means empty."""
    view = item_embedding_view_name(embedding_version)
    rows = [{"item_id": int(item)} for item in item_ids]
    try:
        values = store.get_online_features(features=[f"{view}:item_embedding"], entity_rows=rows).to_dict()
    except Exception as error:  # any client error: the store cannot be read, whatever its kind
        return Probe("unavailable", 0, len(rows), view, f"{type(error).__name__}: {error}")
    present = sum(1 for vector in values["item_embedding"] if vector is not None and len(vector) > 0)
    return Probe("ok" if present or not rows else "empty", present, len(rows), view)


def known_items(
    settings: RelaySettings, store: FeatureStore, count: int = PROBE_ITEMS
) -> tuple[int, np.ndarray] | None:
    """The newest embedding version the registry says was loaded online, and ``count`` of its items
    (from its offline table); None when no version was loaded yet."""
    for version in reversed(embedding_versions(settings.embeddings_dir)):
        path = embedding_dir(settings.embeddings_dir, version) / "item_embeddings.parquet"
        try:
            loaded = store.get_feature_view(item_embedding_view_name(version)).most_recent_end_time
        except Exception:  # a version on disk that the registry does not know was never served
            continue
        if loaded is None or not path.exists():
            continue
        items = pd.read_parquet(path, columns=["item_id"])["item_id"].drop_duplicates().head(count)
        return version, items.to_numpy(np.int64)
    return None


def probe_store(settings: RelaySettings, store: FeatureStore, count: int = PROBE_ITEMS) -> Probe:
    """Probe without a serving model: the keys come from the offline store and the registry."""
    known = known_items(settings, store, count)
    return Probe("unknown") if known is None else probe_items(store, *known)


def needs_restore(probe: Probe) -> bool:
    """Only an empty store is restored: an unavailable one cannot be written, and an unknown one
    was never loaded (the daily data job loads it first)."""
    return probe.state == "empty"
