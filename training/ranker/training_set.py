"""The ranker's training set of a cycle, built point in time from Feast and stored in the lake."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from feast import FeatureStore

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from feature_repo.views import ranker_service_name
from training.ranker.fit import build_training_set
from training.split import TemporalSplit


@dataclass(frozen=True)
class RankerTrainingData:
    """Where the training set was written, and what it holds."""

    path: str  # parquet in the lake
    embedding_version: int | None = None  # None: read from a legacy output that did not record it
    rows: int | None = None
    sessions: int | None = None
    positive_rate: float | None = None
    feature_service: str = ""
    sasrec_score_null_share: float | None = None
    guard: dict = field(default_factory=dict)  # FeatureGuard report: values clipped or nulled per feature
    head: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_legacy(cls, stored: str) -> RankerTrainingData:
        """The path the ``ranker_training_set`` asset returned before typed results."""
        return cls(path=str(stored))


def build_ranker_training_set(
    settings: RelaySettings, store: FeatureStore, split: TemporalSplit, embedding_version: int
) -> RankerTrainingData:
    """Impressions of the ranker window labelled with clicks, joined point in time to the Feast
    features of ``embedding_version``, written to ``<lake>/ranker``."""
    window = (split.ranker_start_ts, split.holdout_start_ts)
    with lake.connect(settings) as con:
        events = read_events(con, start=window[0], end=window[1])
    frame, guard = build_training_set(store, events, embedding_version, window, lake.read_catalog(settings))
    path = settings.lake_dir / "ranker" / f"training_set_sasrec_v{embedding_version}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return RankerTrainingData(
        path=str(path),
        embedding_version=embedding_version,
        rows=len(frame),
        sessions=int(frame["session_id"].nunique()),
        positive_rate=float(frame["label"].mean()),
        feature_service=ranker_service_name(embedding_version),
        sasrec_score_null_share=float(frame["sasrec_score"].isna().mean()),
        guard=guard.as_dict(),
        head=frame.head(),
    )
