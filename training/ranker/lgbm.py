"""LightGBM over the ranker window (pointwise binary by default, or lambdarank over sessions),
with early stopping on the last days of its window."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.guard import FeatureGuard, GuardReport
from training.ranker.base import Ranker, session_groups

MODEL_FILE = "lightgbm.txt"


# ``binary``: pointwise P(click) of a candidate. With negatives sampled at one rate across ranks
# it orders all 200 candidates consistently (sampling shifts every log-odds by the same constant).
# ``lambdarank`` optimises NDCG@10 within a training session, which for a positive and ~20 sampled
# negatives is a different task from the top 10 of 200: measured on the demo world's holdout it
# gained nothing over SASRec alone while ``binary`` did (benchmarks/two_stage.py).
OBJECTIVES = ("binary", "lambdarank")


@dataclass(frozen=True)
class RankerConfig:
    kind: str = "lightgbm"  # or "neural"
    objective: str = "binary"  # LightGBM only: binary or lambdarank (see OBJECTIVES)
    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    early_stopping_rounds: int = 40
    validation_days: int = 2
    seed: int = 0
    hidden: int = 64  # neural ranker only
    epochs: int = 20  # neural ranker only
    drop_features: str = ""  # comma-separated ranker features left out (training.ranker.variants)
    min_dwell_share: float = 0.0  # >0: a click is a positive only with this share of the item's duration spent


@dataclass
class RankerResult:
    ranker: Ranker
    features: list[str]
    best_iteration: int
    metrics: dict[str, float] = field(default_factory=dict)
    guard_report: GuardReport | None = None


SMALL_BATCH_ROWS = 10_000


class LightGBMRanker(Ranker):
    kind = "lightgbm"

    def __init__(self, features: list[str], config: RankerConfig | None = None, booster: lgb.Booster | None = None):
        super().__init__(features)
        self.config = config or RankerConfig()
        self.booster = booster

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> dict[str, float]:
        config = self.config
        if config.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {config.objective!r}; use one of {OBJECTIVES}")
        common = {
            "n_estimators": config.n_estimators,
            "learning_rate": config.learning_rate,
            "num_leaves": config.num_leaves,
            "min_child_samples": config.min_child_samples,
            "subsample": config.subsample,
            "subsample_freq": 1,
            "colsample_bytree": config.colsample_bytree,
            "random_state": config.seed,
            "verbose": -1,
            "n_jobs": 2,
            "deterministic": True,
            "force_row_wise": True,
        }
        weights = train["weight"] if "weight" in train.columns else None
        stop = [lgb.early_stopping(config.early_stopping_rounds, verbose=False)]
        if config.objective == "binary":
            model = lgb.LGBMClassifier(objective="binary", **common)
            model.fit(
                train[self.features],
                train["label"],
                sample_weight=weights,
                eval_X=(valid[self.features],),
                eval_y=(valid["label"],),
                eval_metric="auc",
                callbacks=stop,
            )
            metric = {"ranker_valid_auc": float(model.best_score_["valid_0"]["auc"])} if model.best_score_ else {}
        else:
            model = lgb.LGBMRanker(objective="lambdarank", **common)
            model.fit(
                train[self.features],
                train["label"],
                sample_weight=weights,
                group=session_groups(train),
                eval_X=(valid[self.features],),
                eval_y=(valid["label"],),
                eval_group=[session_groups(valid)],
                eval_at=[10],
                callbacks=stop,
            )
            ndcg = float(model.best_score_["valid_0"]["ndcg@10"]) if model.best_score_ else float("nan")
            metric = {"ranker_valid_session_ndcg_at_10": ndcg}
        self.booster = model.booster_
        best = int(model.best_iteration_ or config.n_estimators)
        return {**metric, "ranker_best_iteration": float(best)}

    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("LightGBMRanker.raw_scores before fit or load")
        # One thread for a request's few hundred rows: OpenMP's start-up would cost more than it saves.
        # The raw margin (log-odds for ``binary``): unbounded and strictly monotone, so no ties.
        return self.booster.predict(matrix, raw_score=True, num_threads=1 if len(matrix) < SMALL_BATCH_ROWS else 0)

    def save(self, directory: Path) -> None:
        self.booster.save_model(str(directory / MODEL_FILE))

    @classmethod
    def load(cls, directory: Path, features: list[str]) -> LightGBMRanker:
        return cls(features, booster=lgb.Booster(model_file=str(directory / MODEL_FILE)))

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.feature_importance("gain")
        return {name: round(float(g), 1) for name, g in zip(self.features, gains, strict=True)}


def split_by_days(frame: pd.DataFrame, days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All but the last ``days`` days, and those days (by the rows' ``ts``)."""
    stamps = frame["ts"].dt.floor("D")
    cutoff = stamps.max() - pd.Timedelta(days=days - 1)
    return frame[stamps < cutoff], frame[stamps >= cutoff]


def train_ranker(
    frame: pd.DataFrame, features: list[str], config: RankerConfig, guard: FeatureGuard | None = None
) -> RankerResult:
    """Fit the configured ranker on all but the last ``validation_days`` days (early stopping on them).

    With a ``guard``, out-of-contract feature values are clipped (non-finite ones made missing)
    before fitting, and the report says how many.
    """
    from training.ranker.neural import NeuralRanker

    if frame.empty:
        raise ValueError("ranker training set is empty: no sessions with both clicks and non-clicks")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(f"ranker training set lacks feature columns {missing}")
    report = None
    if guard is not None:
        guarded, report = guard.apply(frame, features)
        frame = frame.assign(**{f: guarded[f] for f in features})
    frame = frame.sort_values(["session_id", "position"], kind="stable")
    train, valid = split_by_days(frame, config.validation_days)
    if train.empty or valid.empty:
        raise ValueError(f"ranker window too short for {config.validation_days} validation days")
    kinds = {"lightgbm": LightGBMRanker, "neural": NeuralRanker}
    if config.kind not in kinds:
        raise ValueError(f"unknown ranker kind {config.kind!r}; use one of {sorted(kinds)}")
    ranker = kinds[config.kind](features, config)
    metrics = ranker.fit(train, valid)
    metrics |= {"ranker_train_rows": float(len(train)), "ranker_valid_rows": float(len(valid))}
    best = int(metrics.get("ranker_best_iteration", 0))
    return RankerResult(
        ranker=ranker, features=list(features), best_iteration=best, metrics=metrics, guard_report=report
    )


# Kept for callers that want the lambdarank path explicitly.
def train_lambdarank(
    frame: pd.DataFrame, features: list[str], config: RankerConfig, guard: FeatureGuard | None = None
) -> RankerResult:
    return train_ranker(frame, features, RankerConfig(**{**config.__dict__, "kind": "lightgbm"}), guard)
