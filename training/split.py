"""The temporal split every model in a training cycle shares.

[ sasrec days ............ | ranker days ...... | holdout days ... ]
SASRec learns from the first block only, so its scores on the ranker's training rows are
out-of-sample, exactly as they will be at serving time. The holdout is never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd


@dataclass(frozen=True)
class SplitConfig:
    holdout_days: int = 7
    ranker_days: int = 14
    min_sasrec_days: int = 7


@dataclass(frozen=True)
class TemporalSplit:
    first_day: str
    ranker_start: str  # first day of ranker training rows; SASRec sees days before it
    holdout_start: str  # first day of the holdout window
    last_day: str

    @staticmethod
    def _midnight(day: str) -> pd.Timestamp:
        d = date.fromisoformat(day)
        return pd.Timestamp(datetime(d.year, d.month, d.day, tzinfo=UTC))

    @property
    def ranker_start_ts(self) -> pd.Timestamp:
        return self._midnight(self.ranker_start)

    @property
    def holdout_start_ts(self) -> pd.Timestamp:
        return self._midnight(self.holdout_start)

    @property
    def end_ts(self) -> pd.Timestamp:
        return self._midnight(self.last_day) + pd.Timedelta(days=1)

    def as_dict(self) -> dict[str, str]:
        return {
            "first_day": self.first_day,
            "ranker_start": self.ranker_start,
            "holdout_start": self.holdout_start,
            "last_day": self.last_day,
        }


def temporal_split(days: list[str], config: SplitConfig) -> TemporalSplit:
    """Split consecutive accepted days; fail loudly when there are not enough of them."""
    needed = config.min_sasrec_days + config.ranker_days + config.holdout_days
    if len(days) < needed:
        raise ValueError(
            f"temporal split needs at least {needed} accepted days "
            f"({config.min_sasrec_days} SASRec + {config.ranker_days} ranker + {config.holdout_days} holdout), "
            f"got {len(days)}"
        )
    ordered = sorted(days)
    last = date.fromisoformat(ordered[-1])
    holdout_start = last - timedelta(days=config.holdout_days - 1)
    ranker_start = holdout_start - timedelta(days=config.ranker_days)
    return TemporalSplit(
        first_day=ordered[0],
        ranker_start=ranker_start.isoformat(),
        holdout_start=holdout_start.isoformat(),
        last_day=ordered[-1],
    )
