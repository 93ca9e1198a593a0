"""Treatment effects of an online experiment: two independent arms of users, bootstrap CIs.

An A/B test randomises users, so each arm is its own sample and the bootstrap resamples users
within each arm independently (unlike the paired holdout comparison in ``comparison``). Ratio
metrics such as CTR resample users too and recompute the ratio of sums, which keeps a heavy
user's many impressions together, the way the delta method would.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

WIN, LOSS, NO_DIFFERENCE = "win", "loss", "no difference"
BOOTSTRAP_SAMPLES = 2_000


def verdict(ci_low: float, ci_high: float) -> str:
    """win / loss when the 95% CI of treatment − control excludes 0, else no difference."""
    if ci_low > 0:
        return WIN
    if ci_high < 0:
        return LOSS
    return NO_DIFFERENCE


@dataclass(frozen=True)
class Effect:
    """treatment − control of one metric, absolute and relative, with 95% CIs."""

    metric: str
    control: float
    treatment: float
    diff: float
    ci_low: float
    ci_high: float
    relative: float
    relative_ci_low: float
    relative_ci_high: float
    n_control: int
    n_treatment: int

    @property
    def verdict(self) -> str:
        return verdict(self.ci_low, self.ci_high)

    def as_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def _resampled_indices(n: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    if n == 0:
        raise ValueError("an arm has no users: nothing to compare")
    return rng.integers(0, n, size=(samples, n))


def ratio_effect(
    metric: str,
    control: tuple[np.ndarray, np.ndarray],
    treatment: tuple[np.ndarray, np.ndarray],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> Effect:
    """Effect on Σ numerator / Σ denominator per arm; each tuple holds per-user (numerator,
    denominator). A per-user mean is the ratio with a denominator of ones."""
    rng = np.random.default_rng(seed)
    (c_num, c_den), (t_num, t_den) = (
        tuple(np.asarray(a, dtype=np.float64) for a in arm) for arm in (control, treatment)
    )
    c_index, t_index = _resampled_indices(len(c_num), samples, rng), _resampled_indices(len(t_num), samples, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        c_value, t_value = c_num.sum() / c_den.sum(), t_num.sum() / t_den.sum()
        c_boot = c_num[c_index].sum(axis=1) / c_den[c_index].sum(axis=1)
        t_boot = t_num[t_index].sum(axis=1) / t_den[t_index].sum(axis=1)
        diffs, relatives = t_boot - c_boot, t_boot / c_boot - 1.0
    low, high = np.nanpercentile(diffs, [2.5, 97.5])
    rel_low, rel_high = np.nanpercentile(relatives, [2.5, 97.5])
    return Effect(
        metric=metric,
        control=float(c_value),
        treatment=float(t_value),
        diff=float(t_value - c_value),
        ci_low=float(low),
        ci_high=float(high),
        relative=float(t_value / c_value - 1.0) if c_value else float("nan"),
        relative_ci_low=float(rel_low),
        relative_ci_high=float(rel_high),
        n_control=len(c_num),
        n_treatment=len(t_num),
    )


def mean_effect(
    metric: str, control: np.ndarray, treatment: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> Effect:
    """Effect on the per-user mean of ``metric``."""
    return ratio_effect(metric, (control, np.ones(len(control))), (treatment, np.ones(len(treatment))), samples, seed)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion: honest at small n and near 0 or 1."""
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(centre - half), float(centre + half)
