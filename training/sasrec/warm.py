"""Warm starts: continue from a trained SASRec when the catalogue grows.

New items get fresh rows in the (tied) embedding matrix; every known item keeps its learned
vector, and every other weight is carried over unchanged. Per-item buffers of the side-feature
architecture grow the same way: a new item's category comes from ``categories`` (the catalogue),
and its prior row (another model's vector) is zero, since that model never saw it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec

PER_ITEM = ("item_embedding.weight", "item_category", "item_prior")  # tensors with one row per index


def grow_vocabulary(
    model: SASRec,
    vocabulary: Vocabulary,
    item_ids: np.ndarray,
    seed: int = 0,
    categories: Mapping[int, int] | None = None,
) -> tuple[SASRec, Vocabulary]:
    """A copy of ``model`` whose vocabulary also covers ``item_ids`` (old items keep their vectors)."""
    grown = Vocabulary.from_items(np.concatenate([vocabulary.item_ids, np.asarray(item_ids, dtype=np.int64)]))
    if len(grown) == len(vocabulary):
        copy = SASRec(model.config)
        copy.load_state_dict(model.state_dict())
        return copy, vocabulary
    torch.manual_seed(seed)
    bigger = SASRec(type(model.config)(**{**model.config.__dict__, "n_items": len(grown)}))
    old_state = model.state_dict()
    bigger.load_state_dict({k: v for k, v in old_state.items() if k not in PER_ITEM}, strict=False)
    new_index = torch.as_tensor(grown.encode(vocabulary.item_ids))  # where each old item sits now
    with torch.no_grad():
        bigger.item_embedding.weight[0].zero_()
        bigger.item_embedding.weight[new_index] = old_state["item_embedding.weight"][1:]
        if model.config.n_categories:
            if categories is not None:
                from training.sasrec.side_features import category_indices

                bigger.item_category.copy_(category_indices(grown, categories, model.config.n_categories))
            bigger.item_category[new_index] = old_state["item_category"][1:]
        if model.config.prior_dim:
            bigger.item_prior.zero_()
            bigger.item_prior[new_index] = old_state["item_prior"][1:]
    return bigger, grown
