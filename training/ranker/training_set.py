"""The ranker's training set of a cycle, built point in time from Feast and stored in the lake.

Fit rows are the first stage's real candidates (``training.ranker.candidates``) plus, where the
log holds real impressions (the simulator's, the served ones), those impressions weighted by
1 / propensity. An imported log's impressions are synthetic (the chosen item beside uniformly
drawn ones), so they never enter the fit. The window's last day is held out: its logged
impressions are what the calibrators learn P(click | impression) from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from feast import FeatureStore

from core import lake
from core.dataset import read_dataset_span
from core.events import read_events
from core.settings import RelaySettings
from feature_repo.views import ranker_service_name
from features.retrieval import historical_user_states
from training.ranker.bundle import hnsw_index
from training.ranker.candidates import (
    POPULAR_CANDIDATES,
    POPULARITY_DAYS,
    day_candidates,
    propensity_weights,
    rank_lookup,
    retrieve_users,
    with_popular,
)
from training.ranker.dataset import labelled_impressions
from training.ranker.fit import build_training_set, item_vectors
from training.split import TemporalSplit
from training.topk import popular_items

SAMPLING_SEED = 0
# A candidate is a positive when the user clicks it within this many days of D (never past the
# window's end): a list is served for a while, and the holdout judges it on a week of clicks.
# Measured on the demo world (benchmarks/two_stage.py): day-only labels tie SASRec alone.
LABEL_DAYS = 7


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
    rows_by_source: dict = field(default_factory=dict)  # candidate / impression / calibration rows

    @classmethod
    def from_legacy(cls, stored: str) -> RankerTrainingData:
        """The path the ``ranker_training_set`` asset returned before typed results."""
        return cls(path=str(stored))


def labelled_rows(
    store: FeatureStore,
    events: pd.DataFrame,
    index_items: tuple[np.ndarray, np.ndarray],
    embedding_version: int,
    days: list[pd.Timestamp],
    real_impressions: bool,
    seed: int = SAMPLING_SEED,
    label_days: int = LABEL_DAYS,
    earlier_clicks: pd.DataFrame | None = None,
    popular_candidates: int = POPULAR_CANDIDATES,
) -> pd.DataFrame:
    """The entity rows of the training set before features: candidates of every day but the last
    (labelled with the user's clicks in ``label_days`` from D), real impressions of those days
    (if any), and every impression of the last day for calibration. A day's candidates are the
    pool serving ranks: SASRec's top ``CANDIDATES`` plus the popular items of the
    ``POPULARITY_DAYS`` before D (from ``earlier_clicks`` and ``events``), as of midnight D.
    Columns: session_id, user_id, item_id, ts, position, label, retrieval_rank, weight, source."""
    item_ids, vectors = index_items
    index = hnsw_index(vectors)
    rng = np.random.default_rng(seed)
    day_of = events["ts"].dt.floor("D")
    impressions = labelled_impressions(events)
    if "propensity" not in impressions.columns:
        impressions["propensity"] = np.nan
    impression_day = impressions["ts"].dt.floor("D")
    all_clicks = pd.concat(
        [earlier_clicks if earlier_clicks is not None else events.iloc[:0], events], ignore_index=True
    )
    all_clicks = all_clicks.loc[all_clicks["event_type"] == "click", ["item_id", "ts"]]
    frames = []
    for day in days:
        last = day == days[-1]
        horizon = (day_of >= day) & (day_of < day + pd.Timedelta(days=label_days))
        clicks = events.loc[horizon & (events["event_type"] == "click"), ["user_id", "item_id"]]
        shown = impressions[impression_day == day]
        users = np.union1d(clicks["user_id"].unique(), shown["user_id"].unique()).astype(np.int64)
        states = historical_user_states(store, users, day, embedding_version) if len(users) else {}
        recent = all_clicks[(all_clicks["ts"] >= day - pd.Timedelta(days=POPULARITY_DAYS)) & (all_clicks["ts"] < day)]
        popular = popular_items(recent, popular_candidates)  # 0: SASRec's candidates alone
        popular = popular[np.isin(popular, item_ids)]  # as serving: items without an embedding stay out
        found = {
            user: with_popular(retrieved, popular, states[user][1])
            for user, retrieved in retrieve_users(index, item_ids, states).items()
        }
        if not last:
            frames.append(day_candidates(found, clicks, day, rng).assign(source="candidate"))
        if last or real_impressions:
            logged = shown.assign(
                retrieval_rank=rank_lookup(found, shown["user_id"].to_numpy(), shown["item_id"].to_numpy()),
                weight=propensity_weights(shown["propensity"]) if real_impressions and not last else 1.0,
                source="calibration" if last else "impression",
            )
            frames.append(logged.drop(columns=["propensity"]))
    frames = [f for f in frames if not f.empty]
    if not frames:
        raise ValueError("the ranker window holds no retrieved click and no impression to learn from")
    out = pd.concat(frames, ignore_index=True)
    out["session_id"] = out["session_id"].astype(str)
    return out


def build_ranker_training_set(
    settings: RelaySettings,
    store: FeatureStore,
    split: TemporalSplit,
    embedding_version: int,
    label_days: int = LABEL_DAYS,
) -> RankerTrainingData:
    """The first stage's candidates of the ranker window (and real impressions) labelled with
    clicks, joined point in time to the Feast features of ``embedding_version``, written to
    ``<lake>/ranker``."""
    window = (split.ranker_start_ts, split.holdout_start_ts)
    with lake.connect(settings) as con:
        events = read_events(con, start=window[0], end=window[1])
        earlier = read_events(
            con, start=window[0] - pd.Timedelta(days=POPULARITY_DAYS), end=window[0], event_type="click"
        )
    span = read_dataset_span(settings.root)
    real_impressions = span is None or span.kind != "historical"
    days = list(pd.date_range(window[0], window[1] - pd.Timedelta(days=1), freq="D"))
    rows = labelled_rows(
        store,
        events,
        item_vectors(settings.embeddings_dir, embedding_version),
        embedding_version,
        days,
        real_impressions,
        label_days=label_days,
        earlier_clicks=earlier,
    )
    frame, guard = build_training_set(store, rows, embedding_version, window, lake.read_catalog(settings))
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
        rows_by_source={str(k): int(v) for k, v in frame["source"].value_counts().items()},
    )
