"""Build the ranker's training set from Feast, and the served bundle from a trained ranker."""

from __future__ import annotations

from dataclasses import dataclass
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
from training.ranker.dataset import labelled_impressions, sessions_with_clicks
from training.ranker.lgbm import RankerConfig, RankerResult, split_by_days, train_ranker
from training.split import TemporalSplit
from training.topk import popular_items

POPULAR_FALLBACK_SIZE = 100


def ranker_bounds() -> Bounds:
    """The guard's ranges: the training-set contract's ranges of the ranker's features."""
    bounds = feature_bounds(RankerTrainingSet)
    return {name: bounds[name] for name in RANKER_FEATURES if name in bounds}


def build_training_set(
    store: FeatureStore,
    events: pd.DataFrame,
    embedding_version: int,
    window: tuple[pd.Timestamp, pd.Timestamp],
    catalog: pd.DataFrame,
    method: str = "auto",
) -> tuple[pd.DataFrame, GuardReport]:
    """Every labelled impression of the window with point-in-time features as of the impression,
    guarded and validated against the ``RankerTrainingSet`` contract for the window.

    All impressions are kept: the ranker learns from sessions with both clicks and non-clicks,
    but calibration needs every impression, or it would learn a click rate inflated by that filter.
    """
    labelled = labelled_impressions(events)
    if sessions_with_clicks(labelled).empty:
        raise ValueError("no session in the ranker window has both a click and a non-click")
    entity_df = labelled.rename(columns={"ts": "event_timestamp"})
    frame = historical_features(store, entity_df, embedding_version, catalog, method)
    frame = frame.rename(columns={"event_timestamp": "ts"})
    frame = frame[["session_id", "user_id", "item_id", "ts", "position", "label", *RANKER_FEATURES]]
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


def fit_calibrated_ranker(frame: pd.DataFrame, config: RankerConfig) -> CalibratedRanker:
    """Fit the ranker on all but the window's last day, then isotonic calibration on that day."""
    fit_rows, calibration_rows = split_by_days(frame, 1)
    if fit_rows.empty or calibration_rows.empty:
        raise ValueError("the ranker window needs at least two days: one to fit, one to calibrate")
    guard = FeatureGuard(ranker_bounds())
    result = train_ranker(sessions_with_clicks(fit_rows), list(RANKER_FEATURES), config, guard)
    guarded, _ = guard.apply(calibration_rows, list(RANKER_FEATURES))
    raw = result.ranker.raw_scores(guarded[list(RANKER_FEATURES)].to_numpy(dtype=np.float64))
    calibrator = Calibrator.fit(raw, calibration_rows["label"].to_numpy())
    calibration = calibration_rows[["user_id", "item_id", "label", "user_clicks_30d"]].assign(
        probability=calibrator.apply(raw), raw=raw
    )
    return CalibratedRanker(result, calibrator, calibration.reset_index(drop=True))


def make_bundle(
    fitted: CalibratedRanker,
    embeddings_dir: Path,
    embedding_version: int,
    recent_clicks: pd.DataFrame,
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
        popular_items=popular_items(recent_clicks, POPULAR_FALLBACK_SIZE),
        calibrator=fitted.calibrator,
        bounds=ranker_bounds(),
        metadata={"feature_service": service_name, **{f"split_{k}": v for k, v in split.as_dict().items()}},
    )


RETRIEVAL_K = 200  # candidates serving retrieves per request


def retrieval_recall(bundle: RankerBundle, embeddings_dir: Path, embedding_version: int, sample: int = 500) -> float:
    """Recall@RETRIEVAL_K of the bundle's HNSW index against exact search, on recent user vectors."""
    users = pd.read_parquet(embedding_dir(embeddings_dir, embedding_version) / "user_embeddings.parquet")
    latest = users.sort_values("event_timestamp").drop_duplicates("user_id", keep="last").head(sample)
    return bundle.retrieval_recall(np.stack(latest["user_embedding"].to_numpy()), RETRIEVAL_K)
