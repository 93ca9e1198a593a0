"""Keep corrupted feature values from reaching a model: clip to the contract's range, turn
non-finite values into missing, and report exactly what was changed.

The same bounds travel with the model bundle, so training and serving guard identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Bounds = dict[str, tuple[float | None, float | None]]


@dataclass
class GuardReport:
    rows: int = 0
    non_finite: dict[str, int] = field(default_factory=dict)  # +-inf (and NaN-like text) made missing
    clipped_low: dict[str, int] = field(default_factory=dict)
    clipped_high: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(self.non_finite.values()) + sum(self.clipped_low.values()) + sum(self.clipped_high.values())

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "changed_values": self.changed,
            "non_finite_to_missing": self.non_finite,
            "clipped_low": self.clipped_low,
            "clipped_high": self.clipped_high,
        }


@dataclass(frozen=True)
class FeatureGuard:
    bounds: Bounds

    def apply(self, frame: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, GuardReport]:
        """A guarded copy of ``frame`` and the report of every change. NaN stays NaN (missing)."""
        out = frame.copy()
        matrix = np.column_stack(
            [pd.to_numeric(out[name], errors="coerce").astype("float64").to_numpy() for name in features]
        ) if features else np.empty((len(frame), 0))  # fmt: skip
        guarded, report = self.apply_matrix(matrix, features)
        for index, name in enumerate(features):
            out[name] = guarded[:, index]
        return out, report

    def apply_matrix(self, matrix: np.ndarray, features: list[str]) -> tuple[np.ndarray, GuardReport]:
        """The same guard on a (rows, features) float matrix, columns in ``features`` order (serving's path)."""
        values = np.array(matrix, dtype=np.float64, copy=True)
        low = np.array([_bound(self.bounds.get(name, (None, None))[0]) for name in features], dtype=np.float64)
        high = np.array([_bound(self.bounds.get(name, (None, None))[1]) for name in features], dtype=np.float64)
        infinite = np.isinf(values)
        values[infinite] = np.nan
        with np.errstate(invalid="ignore"):
            below, above = values < low, values > high  # comparisons with NaN (no bound, missing) are False
        values = np.where(below, low, np.where(above, high, values))
        report = GuardReport(rows=len(values))
        for counts, mask in ((report.non_finite, infinite), (report.clipped_low, below), (report.clipped_high, above)):
            for index in np.flatnonzero(mask.any(axis=0)):
                counts[features[index]] = int(mask[:, index].sum())
        return values, report


def _bound(value: float | None) -> float:
    return np.nan if value is None else float(value)
