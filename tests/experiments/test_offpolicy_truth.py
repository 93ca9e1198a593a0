"""Off-policy estimators against the simulator's ground truth.

A stochastic logger (Plackett–Luce over the whole catalogue, on a stale noisy utility) serves
the online environment for a few days; its shown slates, the world's clicks and timespent, and
the Monte Carlo marginals of every item at every position form the log. Two deterministic
targets are then judged on the *same* logged requests: (a) the top items by click appeal (it
loves clickbait) and (b) the top items by satisfaction. The truth is exact: the mean over the
logged sessions of the world's expected clicks and timespent of the target's slate for that
user on that day (``expected_slate_outcomes``), no sampling. The world (its seeds) is one where
the proxy and the goal disagree on these targets: (a) wins clicks, (b) wins timespent, so an
estimator that tracked clicks would get the timespent verdict wrong (checked, not assumed). The
seeds were picked for that property; in three other worlds tried, where both targets' orders
agree, every statistical check here passed as well.

The world's click model is a position-based model: P(click at j) = position_bias_j ·
sigmoid(appeal − offset), and timespent accrues only after a click with a mean that depends on
the item and user, not the position. So IPS, PBM and doubly robust are all unbiased here (PBM
and DR with θ = the world's position bias, up to scale), and with θ estimated from the log they
are consistent.

Tolerance, from the theory (Z fixed up front; the cap on B below was set at 5% once the IPS
bound came out at ~3%):

    |estimate − truth| <= Z · SE + B · |truth|,   Z = 4

- SE is the session-bootstrap standard error, (CI width) / (2 · 1.96). The estimators are
  unbiased, so the error is a mean-zero sum over ~6,800 sessions: a 4σ miss has probability
  ~6e-5 per check (~1e-3 over the file). The bootstrap resamples sessions, so it also counts the
  spread of the truth over sessions: conservative for this conditional estimand.
- With θ estimated, the θ̂ error is not in the library's bootstrap (it keeps θ fixed), so SE
  becomes SE + SE_θ, with SE_θ the spread of the estimate over θ̂ from session-resampled logs
  (a sum of standard deviations bounds the standard deviation of a sum whatever the correlation).
- B bounds the bias the *Monte Carlo* marginals add (an estimator divides by π̂, not π). With
  π̂ a mean of N indicators weighted by θ <= 1, Var(π̂)/π² <= 1/(Nπ), so E[π/π̂] − 1 ≲ 1/(Nπ)
  to second order; the realised draw, added as one more sample, raises a shown item's marginal
  by at most 1/(N+1), another 1/(Nπ). B = Σ_slots c · 2/(Nπ) / Σ_slots c, weighted by each target slot's
  true contribution c to the value, with π the slot's examination-weighted logging marginal
  (PBM, DR) or its marginal at the target's position (IPS). Checked to be at most 5% (position-
  exact marginals, IPS's, are the small ones; the examination-weighted ones give well under 1%).
- Logged timespent is rounded to 0.1 s (a symmetric error under 0.05 s a click): negligible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from evaluation.offpolicy import (
    BOOTSTRAP_SAMPLES,
    Estimate,
    LoggedSlates,
    compare,
    doubly_robust,
    estimate_examination,
    ips,
    pbm,
    support_coverage,
)
from simulator.environment import DayOutcome, OnlineEnvironment, ServedSlate
from simulator.state import UserState
from simulator.world import (
    World,
    WorldConfig,
    build_world,
    expected_slate_outcomes,
    expected_timespent_s,
    position_bias,
    sigmoid,
)
from slate.marginals import slate_marginals
from slate.rules import draw_slate, logits

WORLD = WorldConfig(n_users=400, n_items=60, n_days=5, clickbait_share=0.2, sessions_per_user_day=6.0, seed=13)
DAYS = (0, 1, 2)
TEMPERATURE = 2.0  # the logger's Plackett–Luce temperature on its score logits
SCORE_NOISE = 1.0  # sd of the logger's fixed per-(user, item) score noise
MARGINAL_SAMPLES = 2_000
LOGGER_SEED = 21
ENVIRONMENT_SEED = 22
Z = 4.0
MAX_MARGINAL_BIAS = 0.05  # B must stay below this, or the tolerance would be too loose to mean much
THETA_REPLICATES = 16
TARGETS = ("appeal", "satisfaction")
REWARDS = ("click", "timespent")
CONFIGS = ("ips", "pbm, true θ", "pbm, estimated θ", "doubly robust, true θ", "doubly robust, estimated θ")


@dataclass
class StochasticLogger:
    """Plackett–Luce over all items on (day-0 utility + fixed noise) / T, recording the marginals.

    The score is a stale model of the world (its day-0 utility) plus fixed per-(user, item)
    noise, handed to ``draw_slate`` as sigmoid(score) so that its logits are the score itself.
    A user's slate distribution is then the same on every day, so its Monte Carlo marginals are
    sampled once per user. The realised draw is added as one more sample, as
    ``experiments.offpolicy`` does, so every shown (item, position) has a positive marginal.
    """

    world: World
    seed: int
    requests: list[tuple[int, pd.Timestamp, np.ndarray]] = field(default_factory=list)
    sampled: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        config = self.world.config
        noise = np.random.default_rng([self.seed, 1]).normal(scale=SCORE_NOISE, size=(config.n_users, config.n_items))
        self._probability = sigmoid(self.world.true_utility(0) + noise)
        self._eligible = np.ones(config.n_items, dtype=bool)

    def marginals(self, user_id: int) -> np.ndarray:
        """(I, K) Monte Carlo P(item at position k) of this user's slates (without any realised draw)."""
        if user_id not in self.sampled:
            rng = np.random.default_rng([self.seed, user_id, 2])
            scaled = logits(self._probability[user_id - 1]) / TEMPERATURE
            self.sampled[user_id] = slate_marginals(
                scaled, self.world.item_category, self._eligible, WORLD.slate_size, None, MARGINAL_SAMPLES, rng
            )
        return self.sampled[user_id]

    def __call__(self, user_id: int, ts: pd.Timestamp) -> ServedSlate:
        rng = np.random.default_rng([self.seed, user_id, int(ts.value) % 2**32])
        probability = self._probability[user_id - 1]
        slate = draw_slate(
            probability,
            self.world.item_category,
            self._eligible,
            WORLD.slate_size,
            None,
            TEMPERATURE,
            rng,
            probability,
        )
        drawn = np.zeros((WORLD.n_items, WORLD.slate_size))
        drawn[slate.positions, np.arange(len(slate.positions))] = 1.0
        marginals = (self.marginals(user_id) * MARGINAL_SAMPLES + drawn) / (MARGINAL_SAMPLES + 1)
        self.requests.append((user_id, ts, marginals))
        return ServedSlate(self.world.item_ids[slate.positions], slate.propensities)


@dataclass(frozen=True)
class Experiment:
    world: World
    logger: StochasticLogger
    outcomes: list[DayOutcome]
    logged: LoggedSlates
    users: np.ndarray  # (S,) 0-based user of each logged session
    days: np.ndarray  # (S,) day index of each logged session
    theta: np.ndarray  # the world's position bias, θ_1 = 1
    targets: dict[str, np.ndarray]  # (S, K) 1-based item ids
    truth: dict[tuple[str, str], float]  # (target, reward) -> true value per slate
    contribution: dict[tuple[str, str], np.ndarray]  # (target, reward) -> (S, K) true value of each slot
    theta_replicates: np.ndarray  # (R, K) θ̂ on session-resampled logs
    memo: dict[tuple, object] = field(default_factory=dict)  # values computed once per fixture


def logged_slates(logger: StochasticLogger, outcomes: list[DayOutcome]) -> LoggedSlates:
    """The estimators' input: shown items with the world's responses, and every request's support."""
    index = {(user, ts.value): n for n, (user, ts, _) in enumerate(logger.requests)}
    sessions = pd.concat([outcome.sessions for outcome in outcomes], ignore_index=True)
    session_of = {
        sid: index[(int(user), ts.value)]
        for sid, user, ts in zip(sessions["session_id"], sessions["user_id"], sessions["ts"], strict=True)
    }
    logs = pd.concat([outcome.logs for outcome in outcomes], ignore_index=True)
    impressions = logs[logs["event_type"] == "impression"]
    clicks = logs[logs["event_type"] == "click"].set_index(["session_id", "item_id"])["timespent_s"]
    timespent = clicks.reindex(pd.MultiIndex.from_arrays([impressions["session_id"], impressions["item_id"]]))
    shown = pd.DataFrame(
        {
            "session": impressions["session_id"].map(session_of).to_numpy(),
            "item": impressions["item_id"].to_numpy(),
            "position": impressions["position"].to_numpy(),
            "click": np.isfinite(timespent.to_numpy()).astype(float),
            "timespent": np.nan_to_num(timespent.to_numpy(), nan=0.0),
            "propensity": impressions["propensity"].to_numpy(),
        }
    )
    marginals = np.concatenate([m for _, _, m in logger.requests])
    n = len(logger.requests)
    support = pd.DataFrame(
        {
            "session": np.repeat(np.arange(n), WORLD.n_items),
            "item": np.tile(np.arange(1, WORLD.n_items + 1), n),
            **{f"m_{k + 1}": marginals[:, k] for k in range(WORLD.slate_size)},
        }
    )
    return LoggedSlates.from_frames(shown, support, n_sessions=n)


def per_day(days: np.ndarray, function) -> None:
    for day in np.unique(days).tolist():
        function(day, np.flatnonzero(days == day))


def target_slates(world: World, users: np.ndarray, days: np.ndarray, target: str) -> np.ndarray:
    """(S, K) 1-based ids: the top items by click appeal or by satisfaction, for that user and day."""
    slates = np.empty((len(users), WORLD.slate_size), dtype=np.int64)

    def fill(day: int, rows: np.ndarray) -> None:
        value = world.click_appeal(day, users[rows]) if target == "appeal" else world.satisfaction(day, users[rows])
        slates[rows] = np.argsort(-value, axis=1, kind="stable")[:, : WORLD.slate_size] + 1

    per_day(days, fill)
    return slates


def slot_values(world: World, users: np.ndarray, days: np.ndarray, slates: np.ndarray) -> dict[str, np.ndarray]:
    """(S, K) exact expected clicks and timespent of each slot of 1-based ``slates``."""
    values = {reward: np.empty(slates.shape) for reward in REWARDS}

    def fill(day: int, rows: np.ndarray) -> None:
        items = slates[rows] - 1
        expected = expected_slate_outcomes(world, day, users[rows], items)
        _, satisfaction = world.slate_values(day, users[rows], items)
        values["click"][rows] = expected.click_probability
        values["timespent"][rows] = expected.click_probability * expected_timespent_s(
            world.item_duration_s[items], satisfaction
        )
        np.testing.assert_allclose(values["timespent"][rows].sum(axis=1), expected.timespent_s, rtol=1e-9)

    per_day(days, fill)
    return values


def resampled(logged: LoggedSlates, rng: np.random.Generator) -> LoggedSlates:
    """The log with its sessions resampled with replacement (shown items only: all θ̂ reads)."""
    n = logged.n_sessions
    order = np.argsort(logged.session, kind="stable")
    counts = np.bincount(logged.session, minlength=n)
    starts = np.cumsum(counts) - counts
    picks = rng.integers(0, n, size=n)
    lengths = counts[picks]
    session = np.repeat(np.arange(n), lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = order[np.repeat(starts[picks], lengths) + within]
    return LoggedSlates(
        session=session,
        item=logged.item[rows],
        position=logged.position[rows],
        click=logged.click[rows],
        timespent=logged.timespent[rows],
        propensity=logged.propensity[rows],
        support_session=session,
        support_item=logged.item[rows],
        support_marginal=logged.shown_marginal[rows],
        n_sessions=n,
        slate_size=logged.slate_size,
    )


def run_experiment() -> Experiment:
    world = build_world(WORLD)
    logger = StochasticLogger(world, LOGGER_SEED)
    environment = OnlineEnvironment(world, UserState.initial(WORLD.n_users), seed=ENVIRONMENT_SEED)
    outcomes = [environment.step(day, logger) for day in DAYS]
    logged = logged_slates(logger, outcomes)
    start = pd.Timestamp(WORLD.start_date, tz="UTC")
    users = np.array([user - 1 for user, _, _ in logger.requests], dtype=np.int64)
    days = np.array([(ts - start).days for _, ts, _ in logger.requests], dtype=np.int64)
    targets = {target: target_slates(world, users, days, target) for target in TARGETS}
    contribution = {}
    for target, slates in targets.items():
        for reward, values in slot_values(world, users, days, slates).items():
            contribution[target, reward] = values
    truth = {key: float(values.sum(axis=1).mean()) for key, values in contribution.items()}
    rng = np.random.default_rng([LOGGER_SEED, 3])
    replicates = np.stack([estimate_examination(resampled(logged, rng)) for _ in range(THETA_REPLICATES)])
    return Experiment(
        world=world,
        logger=logger,
        outcomes=outcomes,
        logged=logged,
        users=users,
        days=days,
        theta=position_bias(WORLD, WORLD.slate_size),
        targets=targets,
        truth=truth,
        contribution=contribution,
        theta_replicates=replicates,
    )


@pytest.fixture(scope="module")
def experiment() -> Experiment:
    return run_experiment()


def marginal_bias_bound(experiment: Experiment, target: str, reward: str, exact_position: bool) -> float:
    """B: the relative bias the Monte Carlo marginals can add, Σ c · 2/(Nπ) / Σ c over target slots."""
    key = ("bias bound", target, reward, exact_position)
    if key not in experiment.memo:
        per_user = {user: experiment.logger.marginals(user + 1) for user in np.unique(experiment.users).tolist()}
        # (S, K slots, K positions): each target slot's item's logging marginals (no realised draw).
        at_item = np.stack(
            [
                per_user[user][items]
                for user, items in zip(experiment.users.tolist(), experiment.targets[target] - 1, strict=True)
            ]
        )
        pi = np.diagonal(at_item, axis1=1, axis2=2) if exact_position else at_item @ experiment.theta
        weight = experiment.contribution[target, reward]
        with np.errstate(divide="ignore"):
            per_slot = np.where(weight > 0, 2.0 / (MARGINAL_SAMPLES * pi), 0.0)
        experiment.memo[key] = float((weight * per_slot).sum() / weight.sum())
    return experiment.memo[key]


def estimate(
    experiment: Experiment,
    config: str,
    target: str,
    reward: str,
    theta: np.ndarray | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
) -> Estimate:
    logged, slates = experiment.logged, experiment.targets[target]
    if config == "ips":
        return ips(logged, slates, reward, n_boot=n_boot)
    if theta is None:
        theta = experiment.theta if "true θ" in config else estimate_examination(logged)
    if config.startswith("pbm"):
        return pbm(logged, slates, reward, theta=theta, n_boot=n_boot)
    return doubly_robust(logged, slates, reward, theta=theta, n_boot=n_boot)


def standard_error(estimate_: Estimate) -> float:
    return (estimate_.ci_high - estimate_.ci_low) / (2 * 1.96)


def test_the_log_is_the_environments_and_covers_both_targets(experiment):
    logged = experiment.logged
    sessions = pd.concat([outcome.sessions for outcome in experiment.outcomes], ignore_index=True)
    assert logged.n_sessions == len(sessions) > 5_000
    # The join is right: the logged slates are worth what the environment says its sessions were.
    index = {(user, ts.value): n for n, (user, ts, _) in enumerate(experiment.logger.requests)}
    row = np.array([index[(int(u), t.value)] for u, t in zip(sessions["user_id"], sessions["ts"], strict=True)])
    shown = np.zeros((logged.n_sessions, WORLD.slate_size), dtype=np.int64)
    shown[logged.session, logged.position - 1] = logged.item
    values = slot_values(experiment.world, experiment.users, experiment.days, shown)
    np.testing.assert_allclose(values["click"].sum(axis=1)[row], sessions["expected_clicks"], rtol=1e-9)
    np.testing.assert_allclose(values["timespent"].sum(axis=1)[row], sessions["expected_timespent_s"], rtol=1e-9)
    # The proxy and the goal disagree: appeal wins clicks, satisfaction wins timespent.
    truth = experiment.truth
    assert truth["satisfaction", "click"] < truth["appeal", "click"]
    assert truth["satisfaction", "timespent"] > truth["appeal", "timespent"]
    # Both targets stay inside the logger's support, position by position, and the Monte Carlo
    # marginals leave little room for bias.
    for target in TARGETS:
        slates = experiment.targets[target]
        assert support_coverage(logged, slates, experiment.theta) == 1.0
        assert support_coverage(logged, slates, exact_position=True) == 1.0
        for reward in REWARDS:
            for exact in (False, True):
                assert marginal_bias_bound(experiment, target, reward, exact) <= MAX_MARGINAL_BIAS, (target, reward)


def test_examination_is_recovered_from_the_log(experiment):
    """θ̂ (intervention harvesting on the logger's randomisation) is the world's position bias."""
    estimated = estimate_examination(experiment.logged)
    spread = experiment.theta_replicates.std(axis=0, ddof=1)
    assert estimated[0] == 1.0 and spread[0] == 0.0
    assert np.all(np.abs(estimated - experiment.theta) <= Z * spread), (estimated, experiment.theta, spread)
    # Precise enough to mean something: the lower half of the slate is told apart from "no position
    # bias" (θ ≡ 1), which would put 1 inside the same band.
    assert np.all(np.abs(estimated[5:] - 1.0) > Z * spread[5:]), (estimated, spread)


def theta_values(experiment: Experiment, config: str, target: str, reward: str) -> np.ndarray:
    """The estimate's point value at each θ̂ replicate (a deterministic function of θ)."""
    key = ("θ replicates", config, target, reward)
    if key not in experiment.memo:
        experiment.memo[key] = np.array(
            [estimate(experiment, config, target, reward, t, n_boot=1).value for t in experiment.theta_replicates]
        )
    return experiment.memo[key]


def theta_spread(experiment: Experiment, config: str, target: str, reward: str) -> float:
    """SE_θ: the spread of the estimate over θ̂ re-estimated on session-resampled logs."""
    if "estimated θ" not in config:
        return 0.0
    return float(np.std(theta_values(experiment, config, target, reward), ddof=1))


@pytest.mark.parametrize("config", CONFIGS)
def test_estimates_match_the_true_value(experiment, config):
    """Each estimator lands within Z · SE + B · truth of the exact value of both targets' slates."""
    misses = []
    for target in TARGETS:
        for reward in REWARDS:
            result = estimate(experiment, config, target, reward)
            truth = experiment.truth[target, reward]
            bias = marginal_bias_bound(experiment, target, reward, exact_position=config == "ips")
            tolerance = Z * (standard_error(result) + theta_spread(experiment, config, target, reward))
            tolerance += bias * abs(truth)
            if not abs(result.value - truth) <= tolerance:
                misses.append((target, reward, result.value, truth, tolerance))
    assert not misses, misses


def test_a_wrong_examination_model_is_caught(experiment):
    """The tolerance has teeth: PBM handed the position bias upside down (examination growing
    down the slate) credits both targets' top slots, where they put their best items, least, and
    undershoots each truth by more than the tolerance."""
    upside_down = experiment.theta[::-1].copy()
    for target in TARGETS:
        for reward in REWARDS:
            result = pbm(experiment.logged, experiment.targets[target], reward, theta=upside_down)
            truth = experiment.truth[target, reward]
            tolerance = Z * standard_error(result) + marginal_bias_bound(experiment, target, reward, False) * truth
            assert result.value < truth - tolerance, (target, reward, result.value, truth, tolerance)


@pytest.mark.parametrize(
    ("estimator", "theta"), [("pbm", "true θ"), ("doubly_robust", "true θ"), ("doubly_robust", "estimated θ")]
)
@pytest.mark.parametrize("reward", REWARDS)
def test_compare_gets_the_true_lift(experiment, estimator, theta, reward):
    """satisfaction − appeal, paired on the same sessions: the verdict has the true lift's sign and
    the true lift lies in the 95% CI. The CI is about sampling only, so it is widened by the
    Monte Carlo marginals' bias bound of each arm (B · truth), and, with θ estimated (the
    platform's default), by 1.96 · SE_θ of the lift over the θ̂ replicates."""
    logged, control, treatment = experiment.logged, experiment.targets["appeal"], experiment.targets["satisfaction"]
    true_lift = experiment.truth["satisfaction", reward] - experiment.truth["appeal", reward]
    known = experiment.theta if theta == "true θ" else None
    lift = compare(logged, control, treatment, reward, estimator=estimator, theta=known)
    slack = sum(marginal_bias_bound(experiment, t, reward, False) * experiment.truth[t, reward] for t in TARGETS)
    if known is None:
        # compare's lift at a given θ is exactly the difference of the two arms' point estimates.
        config = "doubly robust, estimated θ" if estimator == "doubly_robust" else "pbm, estimated θ"
        replicates = theta_values(experiment, config, "satisfaction", reward)
        replicates = replicates - theta_values(experiment, config, "appeal", reward)
        slack += 1.96 * float(np.std(replicates, ddof=1))
    assert lift.refusal is None
    assert lift.verdict == ("win" if true_lift > 0 else "loss"), (lift.verdict, true_lift, lift)
    assert lift.lift_ci_low - slack <= true_lift <= lift.lift_ci_high + slack, (true_lift, slack, lift)
