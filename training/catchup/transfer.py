"""Weight transfer: start a challenger from what the incumbent already knows.

Every tensor whose name and shape match is copied (the transformer blocks, positions, the
final norm when the widths agree). Item knowledge enters through the challenger's prior
table: the incumbent's item vectors, frozen, mapped through a learned projection initialised
to the identity on the shared width ([I | 0] when the challenger is wider). The challenger's own
id and category embeddings start at zero, so at step 0 it scores items exactly as the
incumbent does and training only has to learn what the incumbent lacks; an item the
incumbent never saw has a zero prior row and starts from its category.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from training.catchup.architectures import Architecture, build_model
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec


def transfer_weights(
    incumbent: SASRec,
    incumbent_vocabulary: Vocabulary,
    arch: Architecture,
    vocabulary: Vocabulary,
    categories: Mapping[int, int],
    seed: int = 0,
) -> SASRec:
    """A challenger of ``arch`` over ``vocabulary`` initialised from ``incumbent``."""
    prior_dim = incumbent.config.dim
    model = build_model(arch, vocabulary, categories, seed=seed, prior_dim=prior_dim)
    target = model.state_dict()
    copied = {
        name: tensor
        for name, tensor in incumbent.state_dict().items()
        if name in target and name != "item_embedding.weight" and target[name].shape == tensor.shape
    }
    model.load_state_dict(copied, strict=False)
    with torch.no_grad():
        known = incumbent_vocabulary.encode(vocabulary.item_ids)  # incumbent row of each challenger item (0: unknown)
        prior = incumbent.item_vectors().detach()[torch.as_tensor(known)]
        prior[torch.as_tensor(known) == 0] = 0.0
        model.item_prior[1:] = prior
        model.item_prior[0] = 0.0
        eye = torch.zeros(model.config.dim, prior_dim)
        shared = min(model.config.dim, prior_dim)
        eye[:shared, :shared] = torch.eye(shared)
        model.prior_projection.weight.copy_(eye)
        model.item_embedding.weight.zero_()
        if model.config.n_categories:
            model.category_embedding.weight.zero_()
    return model


def transferred_tensors(incumbent: SASRec, challenger: SASRec) -> list[str]:
    """Names copied as they were (for the run's lineage)."""
    theirs = incumbent.state_dict()
    return sorted(
        name
        for name, tensor in challenger.state_dict().items()
        if name in theirs and name != "item_embedding.weight" and theirs[name].shape == tensor.shape
    )
