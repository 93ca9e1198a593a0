"""Off-policy estimates of a ranking policy's clicks and timespent per slate, from logged slates.

Before an A/B test, a candidate ranker is judged on the slates the logging policy already
served: each estimator reweights the logged per-slot rewards by how much more (or less) the
target policy would have put the same item where the user could see it. Every estimator is a
mean (or a ratio of means) over sessions, so its 95% CI comes from a session bootstrap, and
``compare`` bootstraps the *paired* difference of two target policies on the same sessions.

Inputs are the shown items with their rewards, and the logging policy's *support*: the marginal
P(item at position k) of every candidate it could have shown in the session (``slate.marginals``
computes them for ``slate.rules.draw_slate``). The conditional propensities serving logs are
kept for validation only: they are not item-position marginals.

Estimators (value = expected total reward of a slate, e.g. clicks per slate):

- ``ips``: item-position IPS, w = π_t(i at j) / π_0(i at j) at the logged position j. Unbiased
  when the reward of a slot depends only on (session, item, position). With per-slot rewards
  observed this is the unbiased estimator the pseudo-inverse estimator of Swaminathan et al.
  (2017) reduces to; PI itself targets slate-level rewards and needs the logger's pairwise
  item-position moments, which the log does not carry, so it is not offered.
- ``snips``: IPS self-normalised position by position (see ``snips``).
- ``pbm``: the position-based click-model estimator of Li et al. (2018). Assumes
  E[r | i at k] = θ_k a(session, i): only examination depends on the position. It credits an
  item wherever the logger showed it, so it needs far less overlap than ``ips``.
- ``doubly_robust``: a direct reward model q(i, k) = θ_k â_i over the target slate plus the
  PBM-weighted residual correction; unbiased under the PBM assumption whatever â is.

Missing support is never papered over: ``compare`` still reports the numbers but withholds the
verdict and says why.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Literal, NoReturn

import numpy as np
import pandas as pd

from evaluation.online_effects import verdict

Reward = Literal["click", "timespent"]
EstimatorName = Literal["ips", "snips", "pbm", "doubly_robust"]
REWARDS: tuple[str, ...] = ("click", "timespent")
ESTIMATORS: tuple[str, ...] = ("ips", "snips", "pbm", "doubly_robust")
SHOWN_COLUMNS = ("session", "item", "position", "click", "timespent", "propensity")
SUPPORT_KEYS = ("session", "item")
EMPTY_SLOT = -1
BOOTSTRAP_SAMPLES = 1_000
MIN_SUPPORT = 0.95
PRIOR_STRENGTH = 10.0  # pseudo-examinations pulling a rarely shown item's â towards the mean
PROBABILITY_TOLERANCE = 1e-6  # marginals summing a hair above 1 (Monte Carlo, float) are fine
BOOTSTRAP_BUDGET = 4_000_000  # resampled session indices per chunk: bounds memory only
_MARGINAL_COLUMN = re.compile(r"^m_(\d+)$")


def _fail(message: str) -> NoReturn:
    raise ValueError(message)


@dataclass(frozen=True, eq=False)
class LoggedSlates:
    """Logged slates in long form: one entry per shown item, plus the logging support.

    ``support_marginal[r, k]`` is the logging P(``support_item[r]`` at position k + 1) in session
    ``support_session[r]``; a candidate absent from a session's support had probability 0.
    """

    session: np.ndarray  # (N,) session index in 0..n_sessions-1
    item: np.ndarray  # (N,) item id (>= 0)
    position: np.ndarray  # (N,) 1-based display position
    click: np.ndarray  # (N,) 0/1
    timespent: np.ndarray  # (N,) seconds, >= 0
    propensity: np.ndarray  # (N,) conditional P(item at j | items above), as logged
    support_session: np.ndarray  # (M,)
    support_item: np.ndarray  # (M,)
    support_marginal: np.ndarray  # (M, K)
    n_sessions: int
    slate_size: int
    support_score: np.ndarray | None = None  # (M,) the logger's own prediction per candidate, > 0
    shown_marginal: np.ndarray = field(init=False, repr=False)  # (N, K) logging marginals of the shown items
    _support_keys: np.ndarray = field(init=False, repr=False)  # sorted (session, item) keys
    _support_order: np.ndarray = field(init=False, repr=False)  # support rows in key order
    _item_low: int = field(init=False, repr=False)
    _item_span: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        integer = ("session", "item", "position", "support_session", "support_item")
        for name in integer:
            object.__setattr__(self, name, np.asarray(getattr(self, name)).astype(np.int64, copy=False))
        for name in ("click", "timespent", "propensity", "support_marginal"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if self.support_score is not None:
            object.__setattr__(self, "support_score", np.asarray(self.support_score, dtype=np.float64))
        self._validate()
        items = np.concatenate([self.item, self.support_item])
        low = int(items.min()) if items.size else 0
        span = int(items.max()) - low + 1 if items.size else 1
        keys = self.support_session * span + (self.support_item - low)
        order = np.argsort(keys, kind="stable")
        object.__setattr__(self, "_item_low", low)
        object.__setattr__(self, "_item_span", span)
        object.__setattr__(self, "_support_keys", keys[order])
        object.__setattr__(self, "_support_order", order)
        if np.any(np.diff(self._support_keys) == 0):
            _fail("support lists an item twice in one session")
        shown_keys = self.session * span + (self.item - low)
        if np.unique(shown_keys).size != shown_keys.size:
            _fail("an item is shown twice in one session")
        rows = self.support_rows(self.session, self.item)
        if np.any(rows < 0):
            n = int(np.flatnonzero(rows < 0)[0])
            _fail(f"shown item {self.item[n]} of session {self.session[n]} is missing from the logging support")
        shown = self.support_marginal[rows]
        at_logged = shown[np.arange(len(rows)), self.position - 1]
        if np.any(at_logged <= 0):
            n = int(np.flatnonzero(at_logged <= 0)[0])
            _fail(
                f"shown item {self.item[n]} of session {self.session[n]} has logging marginal 0 at its position "
                f"{self.position[n]}: marginals must be in (0, 1] where the logger showed an item"
            )
        object.__setattr__(self, "shown_marginal", shown)

    def _validate(self) -> None:
        n = self.session.shape
        if any(getattr(self, name).shape != n for name in SHOWN_COLUMNS) or self.session.ndim != 1:
            _fail("session, item, position, click, timespent and propensity must be 1-d arrays of one length")
        if self.slate_size < 1 or self.n_sessions < 1:
            _fail(f"slate_size and n_sessions must be >= 1, got {self.slate_size} and {self.n_sessions}")
        m = self.support_marginal.shape[0]
        if self.support_session.shape != (m,) or self.support_item.shape != (m,):
            _fail("support_session and support_item must be 1-d, one entry per row of support_marginal")
        if self.support_marginal.shape != (m, self.slate_size):
            _fail(f"support_marginal must be (rows, slate_size={self.slate_size}), got {self.support_marginal.shape}")
        if self.support_score is not None and self.support_score.shape != (m,):
            _fail(f"support_score must hold one score per support row ({m}), got {self.support_score.shape}")
        if self.support_score is not None and not np.all(np.isfinite(self.support_score) & (self.support_score > 0)):
            _fail("support_score must be finite and > 0 (a baseline prediction the reward model rescales)")
        for name, values in (("session", self.session), ("support_session", self.support_session)):
            if np.any((values < 0) | (values >= self.n_sessions)):
                _fail(f"{name} must lie in 0..{self.n_sessions - 1}")
        if np.any(self.item < 0) or np.any(self.support_item < 0):
            _fail("item ids must be >= 0 (-1 marks an empty target slot)")
        if np.any((self.position < 1) | (self.position > self.slate_size)):
            _fail(f"positions must lie in 1..{self.slate_size}")
        if not np.all((self.propensity > 0) & (self.propensity <= 1)):
            _fail("propensities must lie in (0, 1]")
        if not np.all((self.click == 0) | (self.click == 1)):
            _fail("click must be 0 or 1")
        if not np.all(np.isfinite(self.timespent) & (self.timespent >= 0)):
            _fail("timespent must be finite and >= 0")
        marginal = self.support_marginal
        if not np.all((marginal >= 0) & (marginal <= 1)):
            _fail("support marginals must lie in [0, 1]")
        if np.any(marginal.sum(axis=1) > 1 + PROBABILITY_TOLERANCE):
            _fail("a support item's marginals sum above 1 over positions")
        per_position = np.zeros((self.n_sessions, self.slate_size))
        np.add.at(per_position, self.support_session, marginal)
        if np.any(per_position > 1 + PROBABILITY_TOLERANCE):
            _fail("a session's marginals at one position sum above 1 over items")
        slot = self.session * self.slate_size + self.position - 1
        if np.unique(slot).size != slot.size:
            _fail("two shown items share a session and position")

    def support_rows(self, sessions: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Row of each (session, item) in the support arrays, -1 where the logger could not show it."""
        sessions, items = np.asarray(sessions, dtype=np.int64), np.asarray(items, dtype=np.int64)
        if self._support_keys.size == 0:
            return np.full(sessions.shape, -1, dtype=np.int64)
        offset = items - self._item_low
        inside = (offset >= 0) & (offset < self._item_span)
        keys = sessions * self._item_span + np.where(inside, offset, 0)
        at = np.minimum(np.searchsorted(self._support_keys, keys), self._support_keys.size - 1)
        return np.where(inside & (self._support_keys[at] == keys), self._support_order[at], -1)

    def reward(self, name: str) -> np.ndarray:
        if name not in REWARDS:
            _fail(f"reward must be one of {REWARDS}, got {name!r}")
        return self.click if name == "click" else self.timespent

    @classmethod
    def from_frames(cls, shown: pd.DataFrame, support: pd.DataFrame, n_sessions: int | None = None) -> LoggedSlates:
        """From ``shown`` (session, item, position, click, timespent, propensity) and ``support``
        (session, item, m_1..m_K, optionally ``score``: the logger's prediction per candidate, which
        the doubly robust reward model then rescales); ``n_sessions`` defaults to the largest
        session index + 1."""
        missing = [column for column in SHOWN_COLUMNS if column not in shown.columns]
        if missing:
            _fail(f"shown frame is missing column(s) {missing}")
        missing = [column for column in SUPPORT_KEYS if column not in support.columns]
        if missing:
            _fail(f"support frame is missing column(s) {missing}")
        numbers = sorted(int(match.group(1)) for c in support.columns if (match := _MARGINAL_COLUMN.match(str(c))))
        if not numbers:
            _fail("support frame is missing its marginal columns m_1..m_K")
        expected = [f"m_{k}" for k in range(1, numbers[-1] + 1)]
        missing = [column for column in expected if column not in support.columns]
        if missing:
            _fail(f"support frame is missing column(s) {missing}")
        sessions = np.concatenate([shown["session"].to_numpy(), support["session"].to_numpy()])
        if n_sessions is None:
            n_sessions = int(sessions.max()) + 1 if sessions.size else 0
        return cls(
            session=shown["session"].to_numpy(),
            item=shown["item"].to_numpy(),
            position=shown["position"].to_numpy(),
            click=shown["click"].to_numpy(),
            timespent=shown["timespent"].to_numpy(),
            propensity=shown["propensity"].to_numpy(),
            support_session=support["session"].to_numpy(),
            support_item=support["item"].to_numpy(),
            support_marginal=support[expected].to_numpy(dtype=np.float64),
            n_sessions=n_sessions,
            slate_size=len(expected),
            support_score=support["score"].to_numpy(dtype=np.float64) if "score" in support.columns else None,
        )

    def baseline(self, sessions: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The logger's score of each (session, item): what the reward model rescales per item.
        1 everywhere without scores; the mean score for an item the logger could not show."""
        if self.support_score is None:
            return np.ones(np.shape(items))
        rows = self.support_rows(sessions, items)
        fallback = float(self.support_score.mean()) if self.support_score.size else 1.0
        return np.where(rows >= 0, self.support_score[np.maximum(rows, 0)], fallback)


@dataclass(frozen=True)
class Estimate:
    """One policy's estimated reward per slate, its session-bootstrap 95% CI, the effective
    sample size (Σw)²/Σw² of its weights over shown items, and its support coverage."""

    value: float
    ci_low: float
    ci_high: float
    ess: float
    n_sessions: int
    support: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OffPolicyLift:
    """treatment − control of one reward by one estimator, paired over the same sessions."""

    reward: str
    estimator: str
    control: Estimate
    treatment: Estimate
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    relative_lift: float
    relative_ci_low: float
    relative_ci_high: float
    support_control: float
    support_treatment: float
    ess_control: float
    ess_treatment: float
    n_sessions: int
    verdict: str | None  # win / loss / no difference; None when a policy leaves the support
    refusal: str | None  # why there is no verdict

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Terms:
    """Per-session sums an estimator is a function of: plain mean of ``numerator`` when
    ``denominator`` is None, else Σ_p (Σ scale_p / S) · Σ numerator_p / Σ denominator_p."""

    numerator: np.ndarray  # (S, P)
    denominator: np.ndarray | None = None  # (S, P)
    scale: np.ndarray | None = None  # (S, P)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per shown item, for the ESS

    def parts(self) -> list[np.ndarray]:
        return [part for part in (self.numerator, self.denominator, self.scale) if part is not None]

    def value(self, sums: list[np.ndarray], n_sessions: int) -> np.ndarray:
        """Estimate from the column sums over (resampled) sessions; works on stacked replicates."""
        if self.denominator is None:
            return sums[0].sum(axis=-1) / n_sessions
        numerator, denominator, scale = sums
        # A position no logged item can vouch for (all weights 0) contributes 0, as in IPS.
        ratio = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
        return (scale / n_sessions * ratio).sum(axis=-1)


def effective_sample_size(weights: np.ndarray) -> float:
    """(Σw)² / Σw²: how many equally weighted observations the weights are worth (0 if all 0)."""
    weights = np.asarray(weights, dtype=np.float64)
    squares = float(np.square(weights).sum())
    return float(weights.sum()) ** 2 / squares if squares > 0 else 0.0


def _check_targets(logged: LoggedSlates, target_slates: np.ndarray) -> np.ndarray:
    target = np.asarray(target_slates)
    expected = (logged.n_sessions, logged.slate_size)
    if target.shape != expected:
        _fail(f"target slates must be (n_sessions, slate_size) = {expected}, got {target.shape}")
    if not np.issubdtype(target.dtype, np.integer):
        _fail(f"target slates must hold integer item ids, got dtype {target.dtype}")
    target = target.astype(np.int64, copy=False)
    if np.any(target < EMPTY_SLOT):
        _fail("target slates hold item ids >= 0 and -1 for an empty slot")
    ordered = np.sort(target, axis=1)
    if np.any((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != EMPTY_SLOT)):
        _fail("a target slate shows an item twice")
    return target


def _check_estimator(estimator: str) -> None:
    if estimator not in ESTIMATORS:
        _fail(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


def _check_theta(logged: LoggedSlates, theta: np.ndarray | None) -> np.ndarray:
    if theta is None:
        return estimate_examination(logged)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (logged.slate_size,):
        _fail(f"theta must have one examination probability per position ({logged.slate_size}), got {theta.shape}")
    if not np.all(np.isfinite(theta) & (theta >= 0)) or not np.any(theta > 0):
        _fail("theta must be finite, >= 0 and positive somewhere")
    return theta


def _target_position(logged: LoggedSlates, target: np.ndarray) -> np.ndarray:
    """0-based slot of each shown item in its session's target slate, -1 if the target omits it."""
    hits = target[logged.session] == logged.item[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def _per_session(logged: LoggedSlates, values: np.ndarray) -> np.ndarray:
    return np.bincount(logged.session, weights=values, minlength=logged.n_sessions)[:, None]


def _per_session_position(logged: LoggedSlates, values: np.ndarray) -> np.ndarray:
    cells = logged.session * logged.slate_size + logged.position - 1
    size = logged.n_sessions * logged.slate_size
    return np.bincount(cells, weights=values, minlength=size).reshape(logged.n_sessions, logged.slate_size)


def _ips_weights(logged: LoggedSlates, target: np.ndarray) -> np.ndarray:
    logged_slot = logged.position - 1
    marginal = logged.shown_marginal[np.arange(len(logged_slot)), logged_slot]
    return (_target_position(logged, target) == logged_slot) / marginal


def _pbm_weights(logged: LoggedSlates, target: np.ndarray, theta: np.ndarray) -> np.ndarray:
    slot = _target_position(logged, target)
    examined_target = np.where(slot >= 0, theta[np.maximum(slot, 0)], 0.0)
    examined_logging = logged.shown_marginal @ theta
    # Shown only where no one looks: nothing to credit (and a target wanting it is off-support).
    return np.divide(examined_target, examined_logging, out=np.zeros_like(examined_target), where=examined_logging > 0)


def _ips_terms(logged: LoggedSlates, target: np.ndarray, reward: str) -> _Terms:
    weights = _ips_weights(logged, target)
    return _Terms(_per_session(logged, weights * logged.reward(reward)), weights=weights)


def _snips_terms(logged: LoggedSlates, target: np.ndarray, reward: str) -> _Terms:
    weights = _ips_weights(logged, target)
    return _Terms(
        numerator=_per_session_position(logged, weights * logged.reward(reward)),
        denominator=_per_session_position(logged, weights),
        scale=(target != EMPTY_SLOT).astype(np.float64),
        weights=weights,
    )


def _pbm_terms(logged: LoggedSlates, target: np.ndarray, reward: str, theta: np.ndarray) -> _Terms:
    weights = _pbm_weights(logged, target, theta)
    return _Terms(_per_session(logged, weights * logged.reward(reward)), weights=weights)


@dataclass(frozen=True)
class _RewardModel:
    """â(s, i) = c_i · b(s, i): reward per examination, as a per-item multiple c_i of the logger's
    baseline b (1 without scores), shrunk towards the overall multiple."""

    items: np.ndarray  # sorted ids
    per_item: np.ndarray
    overall: float

    def predict(self, items: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        if self.items.size == 0:
            return np.full(items.shape, self.overall) * baseline
        at = np.minimum(np.searchsorted(self.items, items), self.items.size - 1)
        return np.where(self.items[at] == items, self.per_item[at], self.overall) * baseline


def _fit_reward_model(
    items: np.ndarray, examination: np.ndarray, reward: np.ndarray, prior_strength: float, baseline: np.ndarray
) -> _RewardModel:
    """c_i = (Σ r + α b̄ c̄) / (Σ θ b + α b̄): α pseudo-examinations of a typical (mean-baseline)
    candidate pull a rarely shown item towards c̄ = Σ r / Σ θ b."""
    exposure = examination * baseline
    total = float(exposure.sum())
    overall = float(reward.sum()) / total if total > 0 else 0.0
    prior = prior_strength * (float(baseline.mean()) if baseline.size else 1.0)
    ids, inverse = np.unique(items, return_inverse=True)
    numerator = np.bincount(inverse, weights=reward, minlength=len(ids)) + prior * overall
    denominator = np.bincount(inverse, weights=exposure, minlength=len(ids)) + prior
    per_item = np.divide(numerator, denominator, out=np.full(len(ids), overall), where=denominator > 0)
    return _RewardModel(ids, per_item, overall)


def _dr_terms(
    logged: LoggedSlates, target: np.ndarray, reward: str, theta: np.ndarray, prior_strength: float, cross_fit: bool
) -> _Terms:
    rewards = logged.reward(reward)
    examination = theta[logged.position - 1]
    session_fold = np.arange(logged.n_sessions) % 2
    row_fold = session_fold[logged.session]
    split = cross_fit and np.unique(row_fold).size == 2
    # Model f scores the sessions of fold f, so it is fitted on the other fold's rows.
    masks = (row_fold == 1, row_fold == 0) if split else (np.ones(len(rewards), dtype=bool),) * 2
    row_base = logged.baseline(logged.session, logged.item)
    models = [_fit_reward_model(logged.item[m], examination[m], rewards[m], prior_strength, row_base[m]) for m in masks]
    slot_session, slot = np.nonzero(target != EMPTY_SLOT)
    slot_items = target[slot_session, slot]
    slot_base = logged.baseline(slot_session, slot_items)
    slot_fold = session_fold[slot_session]
    predicted_slot = np.where(
        slot_fold == 0, models[0].predict(slot_items, slot_base), models[1].predict(slot_items, slot_base)
    )
    direct = np.bincount(slot_session, weights=theta[slot] * predicted_slot, minlength=logged.n_sessions)
    predicted_row = np.where(
        row_fold == 0, models[0].predict(logged.item, row_base), models[1].predict(logged.item, row_base)
    )
    weights = _pbm_weights(logged, target, theta)
    correction = _per_session(logged, weights * (rewards - examination * predicted_row))
    return _Terms(direct[:, None] + correction, weights=weights)


def _bootstrap(all_terms: list[_Terms], n_sessions: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """(n_boot,) replicates per estimator, every one resampling the *same* sessions (paired)."""
    if n_boot < 1:
        _fail(f"n_boot must be >= 1, got {n_boot}")
    parts = [part for terms in all_terms for part in terms.parts()]
    stacked = np.concatenate(parts, axis=1)
    sums = np.empty((n_boot, stacked.shape[1]))
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOTSTRAP_BUDGET // n_sessions)
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        draws = rng.integers(0, n_sessions, size=(rows, n_sessions))
        cells = (np.arange(rows)[:, None] * n_sessions + draws).ravel()
        counts = np.bincount(cells, minlength=rows * n_sessions).reshape(rows, n_sessions)
        sums[start : start + rows] = counts @ stacked
    replicates, column = [], 0
    for terms in all_terms:
        widths = [part.shape[1] for part in terms.parts()]
        pieces = []
        for width in widths:
            pieces.append(sums[:, column : column + width])
            column += width
        replicates.append(terms.value(pieces, n_sessions))
    return replicates


def _point(terms: _Terms, n_sessions: int) -> float:
    return float(terms.value([part.sum(axis=0) for part in terms.parts()], n_sessions))


def _interval(replicates: np.ndarray) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _estimate(terms: _Terms, replicates: np.ndarray, n_sessions: int, support: float) -> Estimate:
    low, high = _interval(replicates)
    return Estimate(
        value=_point(terms, n_sessions),
        ci_low=low,
        ci_high=high,
        ess=effective_sample_size(terms.weights),
        n_sessions=n_sessions,
        support=support,
    )


def _terms(
    logged: LoggedSlates,
    target: np.ndarray,
    reward: str,
    estimator: str,
    theta: np.ndarray | None,
    prior_strength: float,
    cross_fit: bool,
) -> tuple[_Terms, float]:
    """An estimator's per-session terms and the support coverage that estimator relies on."""
    _check_estimator(estimator)
    logged.reward(reward)
    if estimator in ("ips", "snips"):
        terms = _ips_terms(logged, target, reward) if estimator == "ips" else _snips_terms(logged, target, reward)
        return terms, support_coverage(logged, target, exact_position=True)
    assert theta is not None
    coverage = support_coverage(logged, target, theta)
    if estimator == "pbm":
        return _pbm_terms(logged, target, reward, theta), coverage
    return _dr_terms(logged, target, reward, theta, prior_strength, cross_fit), coverage


def _single(
    logged: LoggedSlates,
    target_slates: np.ndarray,
    reward: str,
    estimator: str,
    theta: np.ndarray | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    prior_strength: float = PRIOR_STRENGTH,
    cross_fit: bool = True,
) -> Estimate:
    _check_estimator(estimator)
    logged.reward(reward)
    target = _check_targets(logged, target_slates)
    theta = None if estimator in ("ips", "snips") else _check_theta(logged, theta)
    terms, coverage = _terms(logged, target, reward, estimator, theta, prior_strength, cross_fit)
    (replicates,) = _bootstrap([terms], logged.n_sessions, n_boot, seed)
    return _estimate(terms, replicates, logged.n_sessions, coverage)


def ips(
    logged: LoggedSlates,
    target_slates: np.ndarray,
    reward: Reward = "click",
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> Estimate:
    """Item-position IPS: (1/S) Σ_n r_n π_t(i_n at j_n) / π_0(i_n at j_n) over shown items n.

    Unbiased whenever π_0 > 0 at every (item, position) the target uses; its support is
    position-exact, so a target that moves items to positions the logger never used is refused.
    """
    return _single(logged, target_slates, reward, "ips", n_boot=n_boot, seed=seed)


def snips(
    logged: LoggedSlates,
    target_slates: np.ndarray,
    reward: Reward = "click",
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> Estimate:
    """IPS self-normalised per position: Σ_j (F_j / S) · Σ_{n at j} w_n r_n / Σ_{n at j} w_n.

    For slates the natural control variate is per position: E[Σ_{n at j} w_n] over the log is
    F_j, the number of sessions whose target slate fills slot j (Σ_i π_t(i at j) summed over
    sessions), so each position's IPS sum is divided by its realised weight total and rescaled to
    F_j. Normalising all slots together would mix position 1's high reward into position 10's.
    Biased but consistent; a position with no matching logged item contributes 0.
    """
    return _single(logged, target_slates, reward, "snips", n_boot=n_boot, seed=seed)


def pbm(
    logged: LoggedSlates,
    target_slates: np.ndarray,
    reward: Reward = "click",
    theta: np.ndarray | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> Estimate:
    """Position-based estimator (Li et al. 2018): (1/S) Σ_n w_n r_n with
    w_n = Σ_k θ_k π_t(i_n, k) / Σ_k θ_k π_0(i_n, k).

    Unbiased when E[r | i at k] = θ_k a(session, i) (for timespent: seconds accrue only after a
    click, so the same θ applies) and Σ_k θ_k π_0 > 0 wherever the target shows an item. ``theta``
    defaults to ``estimate_examination(logged)``; its scale does not matter.
    """
    return _single(logged, target_slates, reward, "pbm", theta=theta, n_boot=n_boot, seed=seed)


def doubly_robust(
    logged: LoggedSlates,
    target_slates: np.ndarray,
    reward: Reward = "click",
    theta: np.ndarray | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    prior_strength: float = PRIOR_STRENGTH,
    cross_fit: bool = True,
) -> Estimate:
    """Doubly robust PBM: (1/S) Σ_s Σ_k θ_k â(s, t_sk) + (1/S) Σ_n w_n (r_n − θ_{j_n} â(s_n, i_n)).

    The reward model is q(s, i, k) = θ_k â(s, i). Without logger scores â(s, i) = â_i =
    (Σ r + α ā) / (Σ θ_{j} + α) over the item's logged impressions: reward per examination,
    shrunk by ``prior_strength`` α pseudo-examinations towards the overall rate ā (also used for
    items never logged). With ``support_score`` b(s, i) (the logger's own user-aware prediction)
    â(s, i) = c_i b(s, i), the same shrunk ratio per unit of baseline, so the model knows the user
    as well as the item. Because q factorises like the PBM, the PBM-weighted residual cancels the
    model's bias exactly in expectation, so the estimate is unbiased under the PBM for any â, and
    has lower variance when â is good. With
    ``cross_fit`` sessions of even index are scored by the model fitted on odd sessions and vice
    versa, so no session's residual is shrunk by its own rewards. The bootstrap keeps â fixed;
    the ESS is that of the PBM weights of the correction.
    """
    return _single(logged, target_slates, reward, "doubly_robust", theta, n_boot, seed, prior_strength, cross_fit)


def estimate_examination(logged: LoggedSlates) -> np.ndarray:
    """θ_k, the probability a slot at position k is examined, relative to θ_1 = 1, from clicks.

    Intervention harvesting with the logging marginals: for position k,
    T_k = Σ_n [j_n = k] c_n ρ(i_n) / π_0(i_n, k) with ρ(i) = min_k' π_0(i, k') per session
    (a fixed reference weight, and ρ / π_0 <= 1 keeps the weights tame). Under the PBM,
    E[T_k] = θ_k Σ_sessions Σ_i ρ(i) a(session, i): the same item mix at every position, so
    T_k / T_1 estimates θ_k / θ_1 (each sum unbiased, the ratio consistent). Assumes clicks
    follow the PBM (examination depends on the position only, attractiveness may depend on the
    session and item) and that the logger randomises items across positions (ρ > 0).
    """
    slot = logged.position - 1
    reference = logged.shown_marginal.min(axis=1)
    weights = reference / logged.shown_marginal[np.arange(len(slot)), slot]
    totals = np.bincount(slot, weights=weights * logged.click, minlength=logged.slate_size)
    if totals[0] <= 0:
        _fail(
            "cannot estimate examination: no clicks at position 1 on items the logger could show at every "
            "position; pass theta explicitly"
        )
    return totals / totals[0]


def support_coverage(
    logged: LoggedSlates,
    target_slates: np.ndarray,
    theta: np.ndarray | None = None,
    min_marginal: float = 0.0,
    exact_position: bool = False,
) -> float:
    """Share of the target's examination-weighted slots (weight θ_k, or 1 when ``theta`` is None)
    whose item the logger could have shown: Σ_k θ_k π_0(i, k) > ``min_marginal`` in that session,
    or π_0(i at the target's position) > ``min_marginal`` with ``exact_position`` (what IPS needs).
    An estimator cannot see rewards outside this support, so a low share means it is blind."""
    target = _check_targets(logged, target_slates)
    weights = np.ones(logged.slate_size) if theta is None else _check_theta(logged, theta)
    slot_session, slot = np.nonzero(target != EMPTY_SLOT)
    rows = logged.support_rows(slot_session, target[slot_session, slot])
    marginal = np.where((rows >= 0)[:, None], logged.support_marginal[np.maximum(rows, 0)], 0.0)
    if exact_position:
        covered = marginal[np.arange(len(slot)), slot] > min_marginal
    else:
        covered = marginal @ weights > min_marginal
    total = float(weights[slot].sum())
    return float((weights[slot] * covered).sum()) / total if total > 0 else 1.0


def compare(
    logged: LoggedSlates,
    control_slates: np.ndarray,
    treatment_slates: np.ndarray,
    reward: Reward,
    estimator: EstimatorName = "doubly_robust",
    theta: np.ndarray | None = None,
    min_support: float = MIN_SUPPORT,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    min_marginal: float = 0.0,
    prior_strength: float = PRIOR_STRENGTH,
    cross_fit: bool = True,
) -> OffPolicyLift:
    """treatment − control off-policy, with a paired session bootstrap (both policies are judged
    on the same logged sessions, so resampling them together cancels the shared noise).

    The verdict follows the lift's CI; it is withheld (None, with ``refusal`` saying why) when
    either policy's coverage is below ``min_support``, because then both estimates are blind to
    part of what the policy would show. The numbers are reported either way.
    """
    if not 0 <= min_support <= 1:
        _fail(f"min_support must lie in [0, 1], got {min_support}")
    _check_estimator(estimator)
    logged.reward(reward)
    control, treatment = _check_targets(logged, control_slates), _check_targets(logged, treatment_slates)
    theta = None if estimator in ("ips", "snips") else _check_theta(logged, theta)
    terms = [_terms(logged, t, reward, estimator, theta, prior_strength, cross_fit)[0] for t in (control, treatment)]
    exact = estimator in ("ips", "snips")
    coverage = [support_coverage(logged, t, theta, min_marginal, exact_position=exact) for t in (control, treatment)]
    control_boot, treatment_boot = _bootstrap(terms, logged.n_sessions, n_boot, seed)
    control_est, treatment_est = (
        _estimate(t, boot, logged.n_sessions, cover)
        for t, boot, cover in zip(terms, (control_boot, treatment_boot), coverage, strict=True)
    )
    lift = treatment_est.value - control_est.value
    lift_low, lift_high = _interval(treatment_boot - control_boot)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative_low, relative_high = _interval(treatment_boot / control_boot - 1.0)
    relative = lift / control_est.value if control_est.value != 0 else float("nan")
    short = [
        f"the {arm}'s slates leave the logging policy's support (coverage {cover:.2f} < {min_support:.2f})"
        for arm, cover in zip(("control", "treatment"), coverage, strict=True)
        if cover < min_support
    ]
    refusal = f"no OPE verdict: {'; '.join(short)}" if short else None
    return OffPolicyLift(
        reward=reward,
        estimator=estimator,
        control=control_est,
        treatment=treatment_est,
        lift=lift,
        lift_ci_low=lift_low,
        lift_ci_high=lift_high,
        relative_lift=relative,
        relative_ci_low=relative_low,
        relative_ci_high=relative_high,
        support_control=coverage[0],
        support_treatment=coverage[1],
        ess_control=control_est.ess,
        ess_treatment=treatment_est.ess,
        n_sessions=logged.n_sessions,
        verdict=None if refusal else verdict(lift_low, lift_high),
        refusal=refusal,
    )
