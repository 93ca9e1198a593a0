"""The ranker interface: LightGBM lambdarank by default, a small torch network as the second
implementation. Both fit on sessions, score feature matrices, and save to one folder, so the
bundle, MLflow and serving never need to know which one they hold."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd


class Ranker(ABC):
    kind: ClassVar[str]

    def __init__(self, features: list[str]) -> None:
        self.features = list(features)

    @abstractmethod
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> dict[str, float]:
        """Learn from sessions (rows sorted by session); returns training metrics."""

    @abstractmethod
    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        """Uncalibrated scores of a (rows, features) float matrix; NaN means missing."""

    @abstractmethod
    def save(self, directory: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, features: list[str]) -> Ranker: ...

    def feature_importance(self) -> dict[str, float]:
        return {}


def session_groups(frame: pd.DataFrame) -> np.ndarray:
    """Group sizes in row order; rows must be sorted by session."""
    return frame.groupby("session_id", sort=False).size().to_numpy()
