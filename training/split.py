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


def temporal_split(days: list[str], config: SplitConfig, holdout_start: str | None = None) -> TemporalSplit:
    """Split consecutive accepted days; fail loudly when there are not enough of them.

    The holdout is the last ``config.holdout_days`` days unless ``holdout_start`` is given (an
    imported log's cut-off, see ``imported_holdout_start``)."""
    ordered = sorted(days)
    last = date.fromisoformat(ordered[-1])
    holdout_days = config.holdout_days
    if holdout_start is not None:
        holdout_days = (last - date.fromisoformat(holdout_start)).days + 1
    needed = config.min_sasrec_days + config.ranker_days + holdout_days
    if len(days) < needed:
        raise ValueError(
            f"temporal split needs at least {needed} accepted days "
            f"({config.min_sasrec_days} SASRec + {config.ranker_days} ranker + {holdout_days} holdout), "
            f"got {len(days)}"
        )
    holdout_start_day = last - timedelta(days=holdout_days - 1)
    ranker_start = holdout_start_day - timedelta(days=config.ranker_days)
    return TemporalSplit(
        first_day=ordered[0],
        ranker_start=ranker_start.isoformat(),
        holdout_start=holdout_start_day.isoformat(),
        last_day=ordered[-1],
    )


@dataclass(frozen=True)
class ImportedHoldout:
    """The holdout rule for an imported log (the simulator keeps its last ``holdout_days``)."""

    share: float = 0.10  # the last 10% of interactions by time...
    min_warm_users: int = 300  # ...moved earlier until it covers this many warm users...
    max_share: float = 0.30  # ...or holds this share of interactions, whichever comes first


def imported_holdout_start(interactions: pd.DataFrame, rule: ImportedHoldout = ImportedHoldout()) -> str:
    """The first holdout day of an imported log, from its interactions (``user_id``, ``day``).

    The cut-off starts at the day that begins the last ``rule.share`` of interactions. A warm
    user has an interaction before the cut-off and one on or after it. While fewer than
    ``rule.min_warm_users`` are warm, the cut-off moves one day earlier, unless that would put
    more than ``rule.max_share`` of the interactions in the holdout. Days are whole partitions.
    """
    if interactions.empty:
        raise ValueError("no interactions to place a holdout cut-off in")
    per_day = interactions.groupby("day").size().sort_index()
    days = per_day.index.tolist()
    after = per_day[::-1].cumsum()[::-1] / len(interactions)  # share of interactions on or after each day
    first_seen = interactions.groupby("user_id")["day"].min()
    last_seen = interactions.groupby("user_id")["day"].max()
    candidates = [d for d in days if after[d] >= rule.share]
    cut = candidates[-1] if candidates else days[0]
    index = days.index(cut)
    while index > 1:
        warm = int(((first_seen < cut) & (last_seen >= cut)).sum())
        earlier = days[index - 1]
        if warm >= rule.min_warm_users or after[earlier] > rule.max_share:
            break
        index -= 1
        cut = earlier
    return cut
