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
        report = GuardReport(rows=len(frame))
        for name in features:
            values = pd.to_numeric(out[name], errors="coerce").astype("float64").to_numpy(copy=True)
            infinite = np.isinf(values)
            values[infinite] = np.nan
            low, high = self.bounds.get(name, (None, None))
            below = values < low if low is not None else np.zeros(len(values), dtype=bool)
            above = values > high if high is not None else np.zeros(len(values), dtype=bool)
            if low is not None:
                values[below] = low
            if high is not None:
                values[above] = high
            out[name] = values
            for counts, mask in (
                (report.non_finite, infinite),
                (report.clipped_low, below),
                (report.clipped_high, above),
            ):
                if mask.any():
                    counts[name] = int(mask.sum())
        return out, report
