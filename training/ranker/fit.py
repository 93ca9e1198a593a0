"""Build the ranker's training set from Feast, and the served bundle from a trained ranker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from feast import FeatureStore

from feature_repo.tables import RANKER_FEATURES, embedding_dir
from features.retrieval import historical_features, with_categories
from quality.contracts import RankerTrainingSet, feature_bounds, for_window
from training.calibration import Calibrator, expected_calibration_error
from training.guard import Bounds, FeatureGuard, GuardReport
from training.ranker.bundle import RankerBundle
from training.ranker.candidates import popularity_order
from training.ranker.dataset import sessions_with_clicks
from training.ranker.lgbm import RankerConfig, RankerResult, split_by_days, train_ranker
from training.ranker.variants import ranker_features
from training.split import TemporalSplit

TRAINING_ROW_COLUMNS = ("session_id", "user_id", "item_id", "ts", "position", "label", "weight", "source")


def ranker_bounds() -> Bounds:
    """The guard's ranges: the training-set contract's ranges of the ranker's features."""
    bounds = feature_bounds(RankerTrainingSet)
    return {name: bounds[name] for name in RANKER_FEATURES if name in bounds}


def build_training_set(
    store: FeatureStore,
    rows: pd.DataFrame,
    embedding_version: int,
    window: tuple[pd.Timestamp, pd.Timestamp],
    catalog: pd.DataFrame,
    method: str = "auto",
) -> tuple[pd.DataFrame, GuardReport]:
    """Labelled rows (``training_set.labelled_rows``) with point-in-time features as of each
    row's ``ts``, guarded and validated against the ``RankerTrainingSet`` contract for the window."""
    if sessions_with_clicks(rows[rows["source"] != "calibration"]).empty:
        raise ValueError("no session in the ranker window has both a click and a non-click")
    entity_df = rows.rename(columns={"ts": "event_timestamp"})
    frame = historical_features(store, entity_df, embedding_version, catalog, method)
    frame = frame.rename(columns={"event_timestamp": "ts"})
    frame = frame[[*TRAINING_ROW_COLUMNS, *RANKER_FEATURES]]
    guarded, report = FeatureGuard(ranker_bounds()).apply(frame, list(RANKER_FEATURES))
    frame = frame.assign(**{name: guarded[name] for name in RANKER_FEATURES})
    frame["ts"] = frame["ts"].astype("datetime64[ns, UTC]")
    for_window(RankerTrainingSet, *window).validate(frame, lazy=True)
    return frame, report


def item_vectors(embeddings_dir: Path, embedding_version: int) -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_parquet(embedding_dir(embeddings_dir, embedding_version) / "item_embeddings.parquet")
    return table["item_id"].to_numpy(np.int64), np.stack(table["item_embedding"].to_numpy()).astype(np.float32)


@dataclass
class CalibratedRanker:
    result: RankerResult
    calibrator: Calibrator
    calibration: pd.DataFrame  # the held-out day's impressions: label, probability, segment flags
    first_stage_calibrator: Calibrator | None = None
    popularity_calibrator: Calibrator | None = None
    popular: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))

    def ece(self) -> dict[str, float]:
        """ECE (15 bins) overall and per segment on the calibration day."""
        frame, out = self.calibration, {}
        for name, mask in {"all": np.ones(len(frame), dtype=bool), **segment_masks(frame)}.items():
            out[f"ece_{name}"] = expected_calibration_error(frame["probability"][mask], frame["label"][mask])
        return out


def segment_masks(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """New users (no clicks in 30 days) and heavy users (top decile of 30-day clicks)."""
    clicks = frame["user_clicks_30d"].to_numpy()
    return {"new_users": clicks == 0, "heavy_users": clicks >= np.quantile(clicks, 0.9) if len(clicks) else clicks > 0}


def _fit_or_none(scores: np.ndarray, labels: np.ndarray) -> Calibrator | None:
    finite = np.isfinite(scores)
    if len(np.unique(labels[finite])) < 2:
        return None
    return Calibrator.fit(scores[finite], labels[finite])


def fit_calibrated_ranker(frame: pd.DataFrame, config: RankerConfig, popular: np.ndarray) -> CalibratedRanker:
    """Fit the ranker on the fit rows (candidates, real impressions), then isotonic calibration of
    it, of the retrieval score (the first stage alone) and of the popularity order (``popular``,
    most clicked first) on the held-out day's impressions."""
    if "source" in frame.columns:
        fit_rows, calibration_rows = frame[frame["source"] != "calibration"], frame[frame["source"] == "calibration"]
    else:  # a training set written before candidate rows: its last day calibrates
        fit_rows, calibration_rows = split_by_days(frame, 1)
    if fit_rows.empty or calibration_rows.empty:
        raise ValueError("the ranker window needs at least two days: one to fit, one to calibrate")
    guard = FeatureGuard(ranker_bounds())
    features = ranker_features(config.drop_features)
    result = train_ranker(sessions_with_clicks(fit_rows), features, config, guard)
    guarded, _ = guard.apply(calibration_rows, features)
    raw = result.ranker.raw_scores(guarded[features].to_numpy(dtype=np.float64))
    labels = calibration_rows["label"].to_numpy()
    calibrator = Calibrator.fit(raw, labels)
    calibration = calibration_rows[["user_id", "item_id", "label", "user_clicks_30d"]].assign(
        probability=calibrator.apply(raw), raw=raw
    )
    popularity = popularity_order(popular, calibration_rows["item_id"].to_numpy())
    return CalibratedRanker(
        result,
        calibrator,
        calibration.reset_index(drop=True),
        first_stage_calibrator=_fit_or_none(calibration_rows["sasrec_score"].to_numpy(dtype=np.float64), labels),
        popularity_calibrator=_fit_or_none(popularity, labels),
        popular=np.asarray(popular, dtype=np.int64),
    )


def make_bundle(
    fitted: CalibratedRanker,
    embeddings_dir: Path,
    embedding_version: int,
    split: TemporalSplit,
    service_name: str,
    catalog: pd.DataFrame,
) -> RankerBundle:
    ids, vectors = item_vectors(embeddings_dir, embedding_version)
    categories = with_categories(pd.DataFrame({"item_id": ids}), catalog)["category"].to_numpy(np.int64)
    return RankerBundle(
        ranker=fitted.result.ranker,
        features=fitted.result.features,
        embedding_version=embedding_version,
        item_ids=ids,
        item_vectors=vectors,
        item_categories=categories,
        popular_items=fitted.popular,
        calibrator=fitted.calibrator,
        bounds=ranker_bounds(),
        metadata={"feature_service": service_name, **{f"split_{k}": v for k, v in split.as_dict().items()}},
        first_stage_calibrator=fitted.first_stage_calibrator,
        popularity_calibrator=fitted.popularity_calibrator,
    )


RETRIEVAL_K = 200  # candidates serving retrieves per request


def retrieval_recall(bundle: RankerBundle, embeddings_dir: Path, embedding_version: int, sample: int = 500) -> float:
    """Recall@RETRIEVAL_K of the bundle's HNSW index against exact search, on recent user vectors."""
    users = pd.read_parquet(embedding_dir(embeddings_dir, embedding_version) / "user_embeddings.parquet")
    latest = users.sort_values("event_timestamp").drop_duplicates("user_id", keep="last").head(sample)
    return bundle.retrieval_recall(np.stack(latest["user_embedding"].to_numpy()), RETRIEVAL_K)
