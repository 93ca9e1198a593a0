"""How far a statistic's own history says it goes: a peaks-over-threshold tail estimate.

A false-alarm budget of one alarm per quarter, shared by ~25 thresholds, asks for tail
probabilities near 1 / (91 x 25), far below the 1 / N that N days of history can show: the
history's largest value only speaks for about 1 / (N + 1). So the tail is extrapolated. Above a
high value u (the (k+1)-th largest, k = the top ``TAIL_SHARE`` of the days), excesses are taken
as exponential: a generalised Pareto tail with shape 0, P(X > u + x) = (k / N) exp(-x / beta),
so the level exceeded with probability p is u + beta ln(k / (N p)). Shape 0 is the middle way:
a Gaussian tail under-states a bursty feed, and a fitted shape cannot be pinned down by the ~36
excesses half a year of history gives. beta is estimated without the largest excess, rescaled so it
stays unbiased for an exponential (the largest of k has mean H_k beta), so one bad day left in the
history cannot widen a threshold on its own. Ratios are fitted on a log scale by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

TAIL_SHARE = 0.2  # the share of the history's days that forms the tail
MIN_TAIL = 5  # at least this many excesses
MIN_WEEKDAY_DAYS = 3  # a weekday with fewer days takes the pooled median as its location


def harmonic(n: int) -> float:
    """H_n = 1 + 1/2 + ... + 1/n: the mean of the largest of n unit exponentials."""
    return sum(1.0 / i for i in range(1, n + 1))


def tail_threshold(values: Sequence[float], p: float) -> float:
    """The level the statistic exceeds with probability ``p``, from its history ``values``.

    With fewer than ``MIN_TAIL + 1`` values there is no tail to fit: the largest value is returned.
    Where ``p`` is not in the tail (N p >= k), the empirical quantile is."""
    if not 0 < p < 1:
        raise ValueError(f"a tail probability is in (0, 1); got {p}")
    y = np.sort(np.asarray(values, dtype=float))[::-1]
    n = len(y)
    if n == 0:
        raise ValueError("no values to fit a tail on")
    if n <= MIN_TAIL:
        return float(y[0])
    k = min(n - 1, max(MIN_TAIL, round(TAIL_SHARE * n)))
    if n * p >= k:
        return float(np.quantile(y, 1 - p))
    u = float(y[k])
    excess = y[:k] - u  # descending: excess[0] is the largest
    beta = float(excess[1:].sum()) / (k - harmonic(k))
    return u + beta * math.log(k / (n * p))


def weekday_thresholds(values: Sequence[tuple[int, float]], p: float) -> dict[int, float]:
    """Per weekday (0 = Monday): the weekday's median plus the tail of the pooled residuals.

    A weekday has only ~12 days in a quarter, too few for a tail of its own; its level (the
    median) is its own, and how far a day strays from its weekday's level is pooled over all days.
    """
    by_day: dict[int, list[float]] = {}
    for weekday, value in values:
        by_day.setdefault(weekday, []).append(value)
    pooled = float(np.median([value for _, value in values]))
    level = {
        weekday: float(np.median(by_day[weekday])) if len(by_day.get(weekday, [])) >= MIN_WEEKDAY_DAYS else pooled
        for weekday in range(7)
    }
    spread = tail_threshold([value - level[weekday] for weekday, value in values], p)
    return {weekday: level[weekday] + spread for weekday in range(7)}
