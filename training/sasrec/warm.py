"""Warm starts: continue from a trained SASRec when the catalogue grows.

New items get fresh rows in the (tied) embedding matrix; every known item keeps its learned
vector, and every other weight is carried over unchanged.
"""

from __future__ import annotations

import numpy as np
import torch

from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec


def grow_vocabulary(
    model: SASRec, vocabulary: Vocabulary, item_ids: np.ndarray, seed: int = 0
) -> tuple[SASRec, Vocabulary]:
    """A copy of ``model`` whose vocabulary also covers ``item_ids`` (old items keep their vectors)."""
    grown = Vocabulary.from_items(np.concatenate([vocabulary.item_ids, np.asarray(item_ids, dtype=np.int64)]))
    if len(grown) == len(vocabulary):
        copy = SASRec(model.config)
        copy.load_state_dict(model.state_dict())
        return copy, vocabulary
    torch.manual_seed(seed)
    bigger = SASRec(type(model.config)(**{**model.config.__dict__, "n_items": len(grown)}))
    state = {k: v for k, v in model.state_dict().items() if k != "item_embedding.weight"}
    bigger.load_state_dict(state, strict=False)
    with torch.no_grad():
        old_rows = model.item_embedding.weight
        new_index = grown.encode(vocabulary.item_ids)  # where each old item sits in the grown vocabulary
        bigger.item_embedding.weight[0].zero_()
        bigger.item_embedding.weight[torch.as_tensor(new_index)] = old_rows[1:]
    return bigger, grown
