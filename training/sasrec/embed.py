"""Turn a trained SASRec into feature tables: item embeddings and as-of-day user embeddings.

A user's embedding stamped at midnight D is computed only from clicks before D, so a
point-in-time join can never see a click from the future. Rows are written only for days
after a user clicked (the embedding is unchanged otherwise; the join carries the last one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from training.sasrec.data import Vocabulary, left_pad, user_sequences
from training.sasrec.model import SASRec

RECENT_ITEMS = 100  # clicks remembered per user for the "already seen" rule


def _stamp(frame: pd.DataFrame, version: int) -> pd.DataFrame:
    """Stamp rows with their knowledge time: a row is known once its inputs are (its event time)."""
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[ns, UTC]")
    frame["created_timestamp"] = frame["event_timestamp"]
    frame["embedding_version"] = np.int64(version)
    return frame


def item_embedding_table(model: SASRec, vocabulary: Vocabulary, valid_from: pd.Timestamp, version: int) -> pd.DataFrame:
    """One row per vocabulary item, valid from the end of the model's training data."""
    vectors = model.item_vectors().detach().cpu().numpy()[1:].astype(np.float32)
    frame = pd.DataFrame(
        {
            "item_id": vocabulary.item_ids.astype(np.int64),
            "event_timestamp": valid_from,
            "item_embedding": list(vectors),
        }
    )
    return _stamp(frame, version)


@torch.no_grad()
def user_embedding_table(
    model: SASRec,
    vocabulary: Vocabulary,
    clicks: pd.DataFrame,
    version: int,
    batch_size: int = 1024,
    since: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """As-of-day user embeddings: for every (user, day with a click), a row stamped at the next
    midnight holding the embedding of all clicks up to the end of that day, and the distinct
    items among the last ``RECENT_ITEMS`` clicks (serving filters them out as already seen).

    ``since`` keeps only rows stamped at or after it (a backfill over the ranker's window); the
    histories behind them still start at each user's first click."""
    model.eval()
    frame = clicks[["user_id", "item_id", "ts"]].sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
    frame = frame[vocabulary.encode(frame["item_id"].to_numpy()) > 0].reset_index(drop=True)
    sequences = user_sequences(frame, vocabulary)
    days = frame["ts"].dt.floor("D")
    # Last click of each (user, day): the prefix up to it is the history known at the next midnight.
    last_of_day = ~frame.assign(day=days).duplicated(["user_id", "day"], keep="last")
    ends = frame.index[last_of_day].to_numpy()
    starts = frame.groupby("user_id").cumcount().to_numpy()[ends]
    users = frame["user_id"].to_numpy()[ends]
    stamps = (days[last_of_day] + pd.Timedelta(days=1)).to_numpy()
    if since is not None:
        keep = ((days[last_of_day] + pd.Timedelta(days=1)) >= pd.Timestamp(since)).to_numpy()
        ends, starts, users, stamps = ends[keep], starts[keep], users[keep], stamps[keep]

    vectors = np.zeros((len(ends), model.config.dim), dtype=np.float32)
    recent = [
        np.unique(vocabulary.decode(sequences[int(users[r])][max(0, starts[r] + 1 - RECENT_ITEMS) : starts[r] + 1]))
        for r in range(len(ends))
    ]
    for start in range(0, len(ends), batch_size):
        batch_rows = range(start, min(start + batch_size, len(ends)))
        batch = np.stack(
            [left_pad(sequences[int(users[r])][: starts[r] + 1], model.config.max_len) for r in batch_rows]
        )
        vectors[start : start + len(batch)] = model.user_vectors(torch.as_tensor(batch)).numpy()
    table = pd.DataFrame(
        {
            "user_id": users.astype(np.int64),
            "event_timestamp": pd.to_datetime(stamps, utc=True),
            "user_embedding": list(vectors),
            "recent_items": recent,
        }
    )
    return _stamp(table, version)
