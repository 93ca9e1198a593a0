"""The architectures a catch-up can train, by name.

``sasrec`` is the incumbent as Relay trains it today (``SASRecTrainConfig()``), kept for
comparison. ``sasrec_side`` is the challenger: the same transformer with an item side feature,
the catalogue's category, added to every item vector (input and tied output). A new item is
placed next to its category the day it is published, before anyone clicked it, and a rarely
clicked item borrows strength from its category: the two places where a pure id model is weak
in a catalogue that grows every day. Both keep the incumbent's width, so weight transfer can
copy the transformer and start the challenger from the incumbent's function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch

from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec, SASRecConfig
from training.sasrec.side_features import set_item_categories
from training.sasrec.train import SASRecTrainConfig


@dataclass(frozen=True)
class Architecture:
    name: str
    train: SASRecTrainConfig
    side_features: bool
    description: str

    def model_config(self, n_items: int, n_categories: int, prior_dim: int = 0) -> SASRecConfig:
        config = self.train.model_config(n_items)
        return replace(config, n_categories=n_categories if self.side_features else 0, prior_dim=prior_dim)


ARCHITECTURES: dict[str, Architecture] = {
    "sasrec": Architecture("sasrec", SASRecTrainConfig(), False, "the incumbent's architecture: item ids only"),
    "sasrec_side": Architecture(
        "sasrec_side",
        SASRecTrainConfig(),
        True,
        "SASRec with the item's category as a side feature (cold-start and sparse items)",
    ),
}


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def n_categories(categories: Mapping[int, int]) -> int:
    """Embedding rows the catalogue needs (categories are 0-based ints)."""
    return max(categories.values(), default=-1) + 1


def build_model(
    arch: Architecture, vocabulary: Vocabulary, categories: Mapping[int, int], seed: int = 0, prior_dim: int = 0
) -> SASRec:
    """A freshly initialised model of ``arch`` over ``vocabulary``, categories filled in."""
    torch.manual_seed(seed)
    model = SASRec(arch.model_config(len(vocabulary), n_categories(categories), prior_dim))
    set_item_categories(model, vocabulary, categories)
    return model
