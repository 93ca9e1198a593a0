"""Calibrated scores: isotonic regression from raw ranker scores to P(click | impression), and
the measures of how calibrated a score is (ECE, reliability diagram).

Downstream business rules read the scores ("≥ 0.3 gets a badge"), so the score scale is part of
the model's contract: it must mean a probability, and keep meaning it across model versions.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression

ECE_BINS = 15


@dataclass
class Calibrator:
    """Monotone map from raw scores to probabilities, fitted on a held-out day."""

    model: IsotonicRegression

    @classmethod
    def fit(cls, raw_scores: np.ndarray, clicks: np.ndarray) -> Calibrator:
        if len(raw_scores) == 0 or len(np.unique(clicks)) < 2:
            raise ValueError("calibration needs held-out impressions with both clicks and non-clicks")
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
        model.fit(np.asarray(raw_scores, dtype=float), np.asarray(clicks, dtype=float))
        return cls(model)

    def apply(self, raw_scores: np.ndarray) -> np.ndarray:
        return self.model.predict(np.asarray(raw_scores, dtype=float))

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self.model))

    @classmethod
    def load(cls, path: Path) -> Calibrator:
        return cls(pickle.loads(path.read_bytes()))  # our own artifact; serving verifies its sha256 first


def reliability(probabilities: np.ndarray, clicks: np.ndarray, bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Per equal-width bin: count, mean predicted probability, observed click rate."""
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(clicks, dtype=float)
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(float)
    confidence = np.bincount(index, weights=p, minlength=bins) / np.maximum(count, 1)
    accuracy = np.bincount(index, weights=y, minlength=bins) / np.maximum(count, 1)
    return {"count": count, "confidence": confidence, "accuracy": accuracy}


def expected_calibration_error(probabilities: np.ndarray, clicks: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean gap between predicted probability and click rate per bin."""
    table = reliability(probabilities, clicks, bins)
    total = table["count"].sum()
    if total == 0:
        return float("nan")
    return float(np.sum(table["count"] * np.abs(table["accuracy"] - table["confidence"])) / total)


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """A reliability diagram with one curve per model (name -> (probabilities, clicks))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, (p, y) in curves.items():
        table = reliability(p, y)
        used = table["count"] > 0
        ece = expected_calibration_error(p, y)
        axis.plot(table["confidence"][used], table["accuracy"][used], marker="o", label=f"{name} (ECE {ece:.4f})")
    axis.set_xlabel("predicted P(click | impression)")
    axis.set_ylabel("observed click rate")
    axis.set_title(title)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
