"""LightGBM lambdarank over sessions, with early stopping on the last day of its window."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.guard import FeatureGuard, GuardReport


@dataclass(frozen=True)
class RankerConfig:
    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    early_stopping_rounds: int = 40
    validation_days: int = 2
    seed: int = 0


@dataclass
class RankerResult:
    model: lgb.LGBMRanker
    features: list[str]
    best_iteration: int
    metrics: dict[str, float] = field(default_factory=dict)
    guard_report: GuardReport | None = None


def _groups(frame: pd.DataFrame) -> np.ndarray:
    """Group sizes in row order; rows must be sorted by session."""
    return frame.groupby("session_id", sort=False).size().to_numpy()


def train_lambdarank(
    frame: pd.DataFrame, features: list[str], config: RankerConfig, guard: FeatureGuard | None = None
) -> RankerResult:
    """Fit on all but the last ``validation_days`` days; stop early on NDCG@10 of those days.

    With a ``guard``, out-of-contract feature values are clipped (non-finite ones made missing)
    before fitting, and the report says how many.
    """
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
    days = frame["ts"].dt.floor("D")
    cutoff = days.max() - pd.Timedelta(days=config.validation_days - 1)
    train, valid = frame[days < cutoff], frame[days >= cutoff]
    if train.empty or valid.empty:
        raise ValueError(f"ranker window too short for {config.validation_days} validation days")
    model = lgb.LGBMRanker(
        objective="lambdarank",
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_child_samples=config.min_child_samples,
        subsample=config.subsample,
        subsample_freq=1,
        colsample_bytree=config.colsample_bytree,
        random_state=config.seed,
        verbose=-1,
        n_jobs=2,
        deterministic=True,
        force_row_wise=True,
    )
    model.fit(
        train[features],
        train["label"],
        group=_groups(train),
        eval_X=(valid[features],),
        eval_y=(valid["label"],),
        eval_group=[_groups(valid)],
        eval_at=[10],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    best = int(model.best_iteration_ or config.n_estimators)
    valid_ndcg = float(model.best_score_["valid_0"]["ndcg@10"]) if model.best_score_ else float("nan")
    return RankerResult(
        model=model,
        features=list(features),
        best_iteration=best,
        guard_report=report,
        metrics={
            "ranker_valid_session_ndcg_at_10": valid_ndcg,
            "ranker_train_rows": float(len(train)),
            "ranker_valid_rows": float(len(valid)),
            "ranker_best_iteration": float(best),
        },
    )
