"""MLflow pyfunc wrapper of the ranker bundle: explicit loading, scores out."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from training.ranker.bundle import RankerBundle


class RankerPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` takes the ranker's feature columns and returns one score per row."""

    bundle: RankerBundle | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.bundle = RankerBundle.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        if self.bundle is None:
            raise RuntimeError("RankerPyfunc.predict called before load_context")
        return self.bundle.score(model_input)
