"""Continuous training: fine-tune yesterday's SASRec on today's events instead of starting over.

The model is warm-started (new items get new rows, known items keep theirs) and trained on the
newest window of each user active today, with that user's older clicks as context. A few
epochs at a lower learning rate follow the day's drift at a fraction of a full retrain's cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from quality.contracts import partition_window
from training import registry
from training.sasrec.checkpoint import save_checkpoint
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec
from training.sasrec.run import SASRecFineTune, SASRecRefused
from training.sasrec.train import SASRecTrainConfig, TrainResult, train_sasrec
from training.sasrec.warm import grow_vocabulary

FINETUNE = {"epochs": 3, "lr": 5e-4, "warmup_steps": 5, "patience": 3, "windows_per_user": 1}


def finetune_config(base: SASRecTrainConfig) -> SASRecTrainConfig:
    return replace(base, **FINETUNE)


def finetune_day(
    model: SASRec,
    vocabulary: Vocabulary,
    clicks: pd.DataFrame,
    day: str,
    config: SASRecTrainConfig,
    categories: Mapping[int, int] | None = None,
) -> TrainResult:
    """Fine-tune on ``day``: ``clicks`` holds every click up to the end of that day.

    A model with item side features also takes in every published item of ``categories`` (the
    catalogue as of the day), so a new item is known, through its category, before its first click.
    """
    start = pd.Timestamp(day, tz="UTC")
    stamps = pd.to_datetime(clicks["ts"], utc=True)
    today = clicks[(stamps >= start) & (stamps < start + pd.Timedelta(days=1))]
    if today.empty:
        raise ValueError(f"no clicks on {day}: nothing to fine-tune on")
    active = clicks[clicks["user_id"].isin(today["user_id"].unique())]
    items = clicks["item_id"].unique()
    if model.config.n_categories and categories:
        items = np.union1d(items, np.fromiter(categories, dtype=np.int64))
    grown, grown_vocabulary = grow_vocabulary(model, vocabulary, items, categories=categories)
    return train_sasrec(active, finetune_config(config), vocabulary=grown_vocabulary, init=grown, progress=False)


def finetune_and_register_sasrec(settings: RelaySettings, day: str) -> SASRecFineTune:
    """Fine-tune the newest registered SASRec on ``day`` (clicks up to its end), log the run and
    register the result as a new version tagged with its parent and day."""
    registry.configure(settings)
    base = registry.latest_version(settings.sasrec_model_name)
    if base is None:
        raise SASRecRefused(f"sasrec_daily {day}: no SASRec is registered yet; run the training cycle first")
    model, vocabulary = registry.load_sasrec(settings.sasrec_model_name, base)
    with lake.connect(settings) as con:
        clicks = read_events(con, end=partition_window(day)[1], event_type="click")
    result = finetune_day(model, vocabulary, clicks, day, SASRecTrainConfig())
    checkpoint = settings.models_dir / f"daily-{day}" / "sasrec.pt"
    save_checkpoint(checkpoint, result.model, result.vocabulary, {"warm_started_from": base, "day": day})
    best = {k: v for k, v in result.best_metrics.items() if k != "epoch"}
    with registry.tracked_run(run_name=f"sasrec-daily-{day}"):
        registry.set_tags({"relay.stage": "embeddings", "mode": "warm", "parent_version": base, "partition": day})
        registry.log_metrics(
            {
                **{f"best_{k}": v for k, v in best.items()},
                "sequences_trained": result.sequences_seen,
                "fit_s": result.fit_s,
            }
        )
        registered = registry.log_sasrec(checkpoint, settings.sasrec_model_name)
    registry.tag_version(
        settings.sasrec_model_name, registered.version, {"mode": "warm", "parent_version": base, "day": day}
    )
    return SASRecFineTune(
        version=registered.version,
        run_id=registered.run_id,
        day=day,
        warm_started_from=base,
        items=len(result.vocabulary),
        new_items=len(result.vocabulary) - len(vocabulary),
        sequences_trained=result.sequences_seen,
        fit_s=result.fit_s,
        best_metrics=best,
    )
