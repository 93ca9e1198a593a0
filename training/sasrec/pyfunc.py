"""MLflow pyfunc wrapper of a SASRec checkpoint: item-id histories in, user vectors out."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from training.sasrec.checkpoint import load_checkpoint
from training.sasrec.data import Vocabulary, left_pad
from training.sasrec.model import SASRec


class SASRecPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` takes a ``history`` column (lists of item ids, oldest first) and returns
    one user vector per row."""

    model: SASRec | None = None
    vocabulary: Vocabulary | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.model, self.vocabulary, _ = load_checkpoint(Path(context.artifacts["checkpoint"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        if self.model is None or self.vocabulary is None:
            raise RuntimeError("SASRecPyfunc.predict called before load_context")
        batch = np.stack(
            [
                left_pad(indices[indices > 0], self.model.config.max_len)
                for indices in (self.vocabulary.encode(np.asarray(h, dtype=np.int64)) for h in model_input["history"])
            ]
        )
        return self.model.user_vectors(torch.as_tensor(batch)).numpy()
