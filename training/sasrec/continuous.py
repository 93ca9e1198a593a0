"""Continuous training: fine-tune yesterday's SASRec on today's events instead of starting over.

The model is warm-started (new items get new rows, known items keep theirs) and trained on the
newest window of each user active today, with that user's older clicks as context. A few
epochs at a lower learning rate follow the day's drift at a fraction of a full retrain's cost.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec
from training.sasrec.train import SASRecTrainConfig, TrainResult, train_sasrec
from training.sasrec.warm import grow_vocabulary

FINETUNE = {"epochs": 3, "lr": 5e-4, "warmup_steps": 5, "patience": 3, "windows_per_user": 1}


def finetune_config(base: SASRecTrainConfig) -> SASRecTrainConfig:
    return replace(base, **FINETUNE)


def finetune_day(
    model: SASRec, vocabulary: Vocabulary, clicks: pd.DataFrame, day: str, config: SASRecTrainConfig
) -> TrainResult:
    """Fine-tune on ``day``: ``clicks`` holds every click up to the end of that day."""
    stamps = pd.to_datetime(clicks["ts"], utc=True)
    today = clicks[stamps.dt.strftime("%Y-%m-%d") == day]
    if today.empty:
        raise ValueError(f"no clicks on {day}: nothing to fine-tune on")
    active = clicks[clicks["user_id"].isin(today["user_id"].unique())]
    grown, grown_vocabulary = grow_vocabulary(model, vocabulary, clicks["item_id"].unique())
    return train_sasrec(active, finetune_config(config), vocabulary=grown_vocabulary, init=grown, progress=False)
