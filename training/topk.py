"""Top-k selection shared by ranker training, offline evaluation and baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd


def popular_items(clicks: pd.DataFrame, n: int) -> np.ndarray:
    """Most-clicked item ids, ties broken by smaller id for determinism."""
    counts = clicks.groupby("item_id").size().reset_index(name="clicks")
    counts = counts.sort_values(["clicks", "item_id"], ascending=[False, True])
    return counts["item_id"].to_numpy()[:n].astype(np.int64)


def top_k_by_score(rows: np.ndarray, items: np.ndarray, scores: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """(n_rows, k) item ids ordered by descending score within each row; -1 pads short rows."""
    frame = pd.DataFrame({"row": rows, "item": items, "score": scores})
    frame = frame.sort_values(["row", "score", "item"], ascending=[True, False, True], kind="stable")
    frame["rank"] = frame.groupby("row").cumcount()
    frame = frame[frame["rank"] < k]
    out = np.full((n_rows, k), -1, dtype=np.int64)
    out[frame["row"].to_numpy(), frame["rank"].to_numpy()] = frame["item"].to_numpy()
    return out
