"""Item side features of SASRec: each vocabulary index's category, from the catalogue."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec


def category_map(catalog: pd.DataFrame) -> dict[int, int]:
    """item_id -> category from a catalogue frame (``item_id``, ``category``)."""
    for column in ("item_id", "category"):
        if column not in catalog.columns:
            raise ValueError(f"the catalogue has no {column!r} column; side features need item_id and category")
    return dict(zip(catalog["item_id"].astype(int), catalog["category"].astype(int), strict=True))


def category_indices(vocabulary: Vocabulary, categories: Mapping[int, int], n_categories: int) -> torch.Tensor:
    """(len(vocabulary) + 1,) embedding rows: category + 1, and 0 for padding, unknown items or
    a category outside the model's range (so a new category never indexes out of bounds)."""
    rows = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    values = np.array([categories.get(int(item), -1) for item in vocabulary.item_ids], dtype=np.int64)
    rows[1:] = np.where((values >= 0) & (values < n_categories), values + 1, 0)
    return torch.as_tensor(rows)


def set_item_categories(model: SASRec, vocabulary: Vocabulary, categories: Mapping[int, int]) -> None:
    """Fill the model's item -> category buffer in place (a no-op for the plain architecture)."""
    if model.config.n_categories:
        with torch.no_grad():
            model.item_category.copy_(category_indices(vocabulary, categories, model.config.n_categories))
