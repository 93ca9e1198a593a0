"""A small torch ranker: standardised features (plus missing-value flags) through an MLP, trained
with a listwise softmax loss per session. The second implementation behind ``Ranker``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from training.ranker.base import Ranker

MODEL_FILE = "neural.pt"


class _Network(nn.Module):
    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1)


class NeuralRanker(Ranker):
    kind = "neural"

    def __init__(self, features: list[str], config=None) -> None:
        super().__init__(features)
        self.hidden = getattr(config, "hidden", 64)
        self.epochs = getattr(config, "epochs", 20)
        self.seed = getattr(config, "seed", 0)
        self.mean = np.zeros(len(features))
        self.scale = np.ones(len(features))
        self.network = _Network(2 * len(features), self.hidden)

    def _inputs(self, matrix: np.ndarray) -> torch.Tensor:
        matrix = np.asarray(matrix, dtype=np.float64)
        missing = np.isnan(matrix)
        standard = np.where(missing, 0.0, (matrix - self.mean) / self.scale)
        return torch.as_tensor(np.concatenate([np.clip(standard, -10, 10), missing], axis=1), dtype=torch.float32)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> dict[str, float]:
        torch.manual_seed(self.seed)
        matrix = train[self.features].to_numpy(dtype=np.float64)
        self.mean = np.nan_to_num(np.nanmean(matrix, axis=0))
        self.scale = np.nan_to_num(np.nanstd(matrix, axis=0), nan=1.0)
        self.scale[self.scale == 0] = 1.0
        self.network = _Network(2 * len(self.features), self.hidden)
        x, labels = self._inputs(matrix), torch.as_tensor(train["label"].to_numpy(), dtype=torch.float32)
        sessions = torch.as_tensor(pd.factorize(train["session_id"])[0], dtype=torch.long)
        optimizer = torch.optim.Adam(self.network.parameters(), lr=3e-3)
        generator = torch.Generator().manual_seed(self.seed)
        n_sessions = int(sessions.max()) + 1
        for _ in range(self.epochs):
            for chunk in torch.randperm(n_sessions, generator=generator).split(512):
                rows = torch.isin(sessions, chunk)
                loss = _listwise_loss(self.network(x[rows]), labels[rows], sessions[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.network.eval()
        return {"ranker_valid_listwise_loss": float(self._loss(valid))}

    def _loss(self, frame: pd.DataFrame) -> float:
        with torch.no_grad():
            scores = self.network(self._inputs(frame[self.features].to_numpy()))
            sessions = torch.as_tensor(pd.factorize(frame["session_id"])[0], dtype=torch.long)
            return float(
                _listwise_loss(scores, torch.as_tensor(frame["label"].to_numpy(), dtype=torch.float32), sessions)
            )

    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.network(self._inputs(matrix)).numpy().astype(np.float64)

    def save(self, directory: Path) -> None:
        torch.save(
            {"state_dict": self.network.state_dict(), "mean": self.mean, "scale": self.scale, "hidden": self.hidden},
            directory / MODEL_FILE,
        )

    @classmethod
    def load(cls, directory: Path, features: list[str]) -> NeuralRanker:
        payload = torch.load(directory / MODEL_FILE, weights_only=False)
        ranker = cls(features)
        ranker.hidden, ranker.mean, ranker.scale = payload["hidden"], payload["mean"], payload["scale"]
        ranker.network = _Network(2 * len(features), ranker.hidden)
        ranker.network.load_state_dict(payload["state_dict"])
        ranker.network.eval()
        return ranker


def _listwise_loss(scores: torch.Tensor, labels: torch.Tensor, sessions: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of each session's clicks against its scores (ListNet, top-1)."""
    n = int(sessions.max()) + 1
    peak = torch.zeros(n).scatter_reduce(0, sessions, scores.detach(), reduce="amax", include_self=False)
    exp = torch.exp(scores - peak[sessions])
    log_norm = torch.log(torch.zeros(n).index_add(0, sessions, exp)) + peak
    weights = torch.zeros(n).index_add(0, sessions, labels)
    loss = -(labels * (scores - log_norm[sessions])).sum() / weights.clamp(min=1).sum()
    return loss
