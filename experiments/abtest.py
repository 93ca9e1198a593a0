"""A/B test of two frozen model versions against the simulated world, through the request path.

Users are split by a hash of their id (``experiments.arms``). For N simulated days after the
world's history, each arm's requests go to ``serving``'s ``Recommender`` for its version; the
served slates land in the landing area as impressions with propensities (``ImpressionLog``,
exactly as the HTTP app writes them) and the world's responses land beside them as clicks.
Neither model is retrained during the test, so the arms cannot contaminate each other.

The report gives, per arm, CTR, clicks per user, time spent per active user, the goal per
user (time spent over the test per assigned user: users who stop coming count as zeros, so
retention is in it) and the next-day return rate; the treatment effect of each with a
user-level bootstrap 95% CI; and the TRUE effect, from the world's expected values of each
arm's policy serving the same users with no sampling noise (``simulator.environment``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from core import atomic
from core.landing import served_day_dir
from core.schema import RAW_LOG_COLUMNS
from core.settings import RelaySettings
from evaluation.online_effects import Effect, ratio_effect, verdict
from experiments.arms import CONTROL, TREATMENT, in_treatment
from experiments.serving_policy import ServingPolicy, SplitPolicy
from serving.champion import load_recommender
from serving.feedback import ImpressionLog, served_session_id
from serving.options import ServingOptions
from simulator.environment import DayOutcome, OnlineEnvironment, Rollout, expected_rollout
from simulator.state import UserState
from simulator.world import World
from training import registry

# Fixed before any run: a true effect under 0.5% of the control's goal is negligible.
NEGLIGIBLE_RELATIVE_EFFECT = 0.005
TRUTH_USERS = 1_000  # users whose expected outcomes under each arm define the true effect


@dataclass(frozen=True)
class ABTestConfig:
    treatment: int
    control: int | None = None  # None: the current champion
    days: int = 5
    share: float = 0.5
    seed: int = 0
    temperature: float = 0.0  # serving exploration in both arms (0: greedy, the default serving)

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"an A/B test needs at least one day, got days={self.days}")
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"share must be in (0, 1), got {self.share}")


@dataclass(frozen=True)
class ArmSummary:
    version: int
    configuration: str
    users: int  # assigned
    active_users: int
    sessions: int
    impressions: int
    clicks: int
    ctr: float
    clicks_per_user: float
    timespent_per_active_user: float
    goal_per_user: float  # time spent per assigned user over the test
    retention: float  # next-day return rate of active users
    satisfaction_per_user: float  # the world's hidden truth, from expected values


@dataclass(frozen=True)
class TrueEffect:
    """Each arm's policy serving the same users for the test's days, in expectation."""

    users: int
    proxy_control: float  # expected clicks per user
    proxy_treatment: float
    goal_control: float  # expected time spent per user (retention included)
    goal_treatment: float

    @property
    def proxy_relative(self) -> float:
        return self.proxy_treatment / self.proxy_control - 1.0

    @property
    def goal_relative(self) -> float:
        return self.goal_treatment / self.goal_control - 1.0

    @property
    def goal_verdict(self) -> str:
        return true_verdict(self.goal_relative)

    @property
    def proxy_verdict(self) -> str:
        return true_verdict(self.proxy_relative)


def true_verdict(relative: float) -> str:
    """win / loss / no difference of a true relative effect, with the negligible band."""
    return verdict(relative - NEGLIGIBLE_RELATIVE_EFFECT, relative + NEGLIGIBLE_RELATIVE_EFFECT)


@dataclass(frozen=True)
class ABTestResult:
    config: ABTestConfig
    first_day: str
    last_day: str
    arms: dict[str, ArmSummary]
    effects: dict[str, Effect]
    truth: TrueEffect
    directory: str
    mlflow_run_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def proxy_verdict(self) -> str:
        return self.effects["clicks_per_user"].verdict

    @property
    def goal_verdict(self) -> str:
        return self.effects["goal_per_user"].verdict

    def as_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "first_day": self.first_day,
            "last_day": self.last_day,
            "arms": {name: asdict(arm) for name, arm in self.arms.items()},
            "effects": {name: effect.as_dict() for name, effect in self.effects.items()},
            "truth": {
                **asdict(self.truth),
                "proxy_relative": self.truth.proxy_relative,
                "goal_relative": self.truth.goal_relative,
                "proxy_verdict": self.truth.proxy_verdict,
                "goal_verdict": self.truth.goal_verdict,
            },
            "verdicts": {"proxy": self.proxy_verdict, "goal": self.goal_verdict},
            "negligible_relative_effect": NEGLIGIBLE_RELATIVE_EFFECT,
            "mlflow_run_id": self.mlflow_run_id,
            "notes": self.notes,
        }


def resolve_control(settings: RelaySettings, control: int | None) -> int:
    if control is not None:
        return control
    registry.configure(settings)
    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if champion is None:
        raise ValueError("no champion to test against: run `relay run` (or `make demo`) first, or pass --control")
    return int(champion.version)


def run_abtest(
    settings: RelaySettings,
    config: ABTestConfig,
    progress: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> ABTestResult:
    """Run the test for ``config.days`` simulated days after the world's history and report it."""
    world, state = World.load(settings.world_dir), UserState.load(settings.world_dir)
    registry.configure(settings)
    control_version = resolve_control(settings, config.control)
    if control_version == config.treatment:
        raise ValueError(f"control and treatment are the same version (v{control_version})")
    options = ServingOptions(temperature=config.temperature, log_impressions=True)
    impressions = ImpressionLog(settings.served_dir)
    recommenders = {
        CONTROL: load_recommender(settings, control_version, options),
        TREATMENT: load_recommender(settings, config.treatment, options),
    }
    arms = {name: ServingPolicy(r, seed=config.seed, impressions=impressions) for name, r in recommenders.items()}
    days = test_days(world, config.days)

    def landed(outcome: DayOutcome) -> None:
        impressions.flush()
        _land_outcomes(settings, outcome)

    split = run_split(world, state, arms, config, days, on_day=landed, progress=progress)
    log("computing the true effect from the world's expected values")
    truth = true_effect(
        world,
        state,
        {name: ServingPolicy(r, seed=config.seed) for name, r in recommenders.items()},
        days,
        config.seed,
    )
    start, end = (world.config.start + pd.Timedelta(days=d) for d in (days[0], days[-1]))
    directory = settings.root / "experiments" / f"abtest-v{control_version}-v{config.treatment}-seed{config.seed}"
    result = ABTestResult(
        config=ABTestConfig(**{**asdict(config), "control": control_version}),
        first_day=start.isoformat(),
        last_day=end.isoformat(),
        arms={name: _summarise(arms[name], split.users(name), split.logs, split.sessions) for name in arms},
        effects=arm_effects(split, config.seed),
        truth=truth,
        directory=str(directory),
    )
    run_id = _log_to_mlflow(settings, result)
    result = ABTestResult(**{**result.__dict__, "mlflow_run_id": run_id})
    _write(result, directory, split.logs)
    return result


def test_days(world: World, days: int) -> list[int]:
    """The ``days`` simulated days right after the world's landed history."""
    first = world.config.n_days
    return list(range(first, first + days))


@dataclass(frozen=True)
class SplitRun:
    """Logs of a split test: which users were treated, what the world logged, its sessions."""

    treated: dict[int, bool]
    logs: pd.DataFrame
    sessions: pd.DataFrame

    def users(self, arm: str) -> list[int]:
        return [user for user, treated in self.treated.items() if treated == (arm == TREATMENT)]


def run_split(
    world: World,
    state: UserState,
    arms: dict[str, ServingPolicy],
    config: ABTestConfig,
    days: list[int],
    on_day: Callable[[DayOutcome], None] | None = None,
    progress: bool = False,
) -> SplitRun:
    """Serve each user their arm's policy for ``days`` in a fresh copy of the world's state."""
    users = world.user_ids
    treated = dict(zip(users.tolist(), in_treatment(users, config.seed, config.share).tolist(), strict=True))
    router = SplitPolicy(arms[CONTROL], arms[TREATMENT], treated)
    environment = OnlineEnvironment(world, state, seed=config.seed)
    logs, sessions = [], []
    for day_index in tqdm(days, desc="A/B days", unit="day", disable=not progress):
        outcome = environment.step(day_index, router)
        router.observe(outcome.logs)
        if on_day is not None:
            on_day(outcome)
        logs.append(outcome.logs)
        sessions.append(outcome.sessions)
    return SplitRun(treated, pd.concat(logs, ignore_index=True), pd.concat(sessions, ignore_index=True))


def _land_outcomes(settings: RelaySettings, outcome: DayOutcome) -> None:
    """The world's clicks on served slates land beside the impressions, under the served session
    id (``ServingPolicy``'s request id), as a client's click events would."""
    logs = outcome.logs
    clicks = logs[logs["event_type"] == "click"]
    if clicks.empty:
        return
    day = clicks["ts"].dt.date.iloc[0]
    started = outcome.sessions.set_index("session_id")["ts"]
    version = clicks["session_id"].str.extract(r"^srv-v(\d+)-", expand=False).astype(int)
    request = started.reindex(clicks["session_id"]).astype("int64").to_numpy()  # ns since the epoch
    served = [
        served_session_id(v, f"{t}-{u}")
        for v, t, u in zip(version.to_numpy(), request, clicks["user_id"].to_numpy(), strict=True)
    ]
    clicks = clicks.assign(event_id="out-" + clicks["event_id"].astype(str), session_id=served)
    atomic.write_parquet(clicks[RAW_LOG_COLUMNS], served_day_dir(settings.served_dir, day) / f"outcomes-{day}.parquet")


def _per_user(logs: pd.DataFrame, users: list[int]) -> pd.DataFrame:
    """Per assigned user: impressions, clicks, time spent, active days, next-day returns."""
    index = pd.Index(users, name="user_id")
    kinds = logs.groupby(["user_id", "event_type"]).size().unstack(fill_value=0)
    out = pd.DataFrame(index=index)
    out["impressions"] = kinds.get("impression", pd.Series(dtype=float)).reindex(index, fill_value=0)
    out["clicks"] = kinds.get("click", pd.Series(dtype=float)).reindex(index, fill_value=0)
    out["timespent"] = logs.groupby("user_id")["timespent_s"].sum().reindex(index, fill_value=0.0)
    days = logs.assign(day=logs["ts"].dt.floor("D"))[["user_id", "day"]].drop_duplicates()
    last = logs["ts"].dt.floor("D").max()
    opportunities = days[days["day"] < last]
    returned = opportunities.assign(day=opportunities["day"] + pd.Timedelta(days=1)).merge(days, on=["user_id", "day"])
    out["return_opportunities"] = opportunities.groupby("user_id").size().reindex(index, fill_value=0)
    out["returns"] = returned.groupby("user_id").size().reindex(index, fill_value=0)
    return out.astype(float)


def _summarise(policy: ServingPolicy, users: list[int], logs: pd.DataFrame, sessions: pd.DataFrame) -> ArmSummary:
    mine = logs[logs["user_id"].isin(users)]
    per_user = _per_user(mine, users)
    active = per_user[per_user["impressions"] > 0]
    satisfaction = sessions.loc[sessions["user_id"].isin(users), "expected_satisfaction"].sum()
    return ArmSummary(
        version=policy.version,
        configuration=policy.recommender.configuration,
        users=len(users),
        active_users=len(active),
        sessions=int(mine["session_id"].nunique()),
        impressions=int(per_user["impressions"].sum()),
        clicks=int(per_user["clicks"].sum()),
        ctr=float(per_user["clicks"].sum() / max(per_user["impressions"].sum(), 1)),
        clicks_per_user=float(per_user["clicks"].mean()),
        timespent_per_active_user=float(active["timespent"].mean()) if len(active) else float("nan"),
        goal_per_user=float(per_user["timespent"].mean()),
        retention=float(per_user["returns"].sum() / max(per_user["return_opportunities"].sum(), 1)),
        satisfaction_per_user=float(satisfaction / max(len(users), 1)),
    )


def arm_effects(split: SplitRun, seed: int) -> dict[str, Effect]:
    """treatment − control of each reported metric, users resampled within their arm."""
    control, treatment = _per_user(split.logs, split.users(CONTROL)), _per_user(split.logs, split.users(TREATMENT))
    active_c, active_t = control[control["impressions"] > 0], treatment[treatment["impressions"] > 0]
    pairs = {
        "ctr": ((control["clicks"], control["impressions"]), (treatment["clicks"], treatment["impressions"])),
        "clicks_per_user": ((control["clicks"], np.ones(len(control))), (treatment["clicks"], np.ones(len(treatment)))),
        "timespent_per_active_user": (
            (active_c["timespent"], np.ones(len(active_c))),
            (active_t["timespent"], np.ones(len(active_t))),
        ),
        "goal_per_user": (
            (control["timespent"], np.ones(len(control))),
            (treatment["timespent"], np.ones(len(treatment))),
        ),
        "retention": (
            (control["returns"], control["return_opportunities"]),
            (treatment["returns"], treatment["return_opportunities"]),
        ),
    }
    return {
        name: ratio_effect(name, tuple(map(np.asarray, c)), tuple(map(np.asarray, t)), seed=seed)
        for name, (c, t) in pairs.items()
    }


def true_effect(
    world: World, state: UserState, policies: dict[str, ServingPolicy], days: list[int], seed: int
) -> TrueEffect:
    """Both arms' policies serve the same sample of users in expectation: no arrival or click noise."""
    users = truth_users(world, seed)
    control, treatment = (
        expected_rollout(world, state, policies[arm], days, users=users) for arm in (CONTROL, TREATMENT)
    )
    return true_effect_of(control, treatment)


def truth_users(world: World, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(world.user_ids, size=min(TRUTH_USERS, len(world.user_ids)), replace=False))


def true_effect_of(control: Rollout, treatment: Rollout) -> TrueEffect:
    return TrueEffect(
        users=len(control.clicks),
        proxy_control=float(control.clicks.mean()),
        proxy_treatment=float(treatment.clicks.mean()),
        goal_control=float(control.timespent_s.mean()),
        goal_treatment=float(treatment.timespent_s.mean()),
    )


def _log_to_mlflow(settings: RelaySettings, result: ABTestResult) -> str:
    """One MLflow run per test, and a tag on both registered versions that points to it."""
    registry.configure(settings)
    control, treatment = result.arms[CONTROL], result.arms[TREATMENT]
    with registry.tracked_run(run_name=f"abtest-v{control.version}-vs-v{treatment.version}") as run_id:
        registry.set_tags(
            {
                "relay.stage": "abtest",
                "control_version": control.version,
                "treatment_version": treatment.version,
                "verdict_proxy": result.proxy_verdict,
                "verdict_goal": result.goal_verdict,
                "true_goal_verdict": result.truth.goal_verdict,
            }
        )
        registry.log_params({**asdict(result.config), "first_day": result.first_day, "last_day": result.last_day})
        metrics = {}
        for name, arm in result.arms.items():
            metrics |= {f"{name}_{k}": float(v) for k, v in asdict(arm).items() if isinstance(v, int | float)}
        for name, effect in result.effects.items():
            metrics |= {f"effect_{name}": effect.diff, f"effect_{name}_ci_low": effect.ci_low}
            metrics |= {f"effect_{name}_ci_high": effect.ci_high, f"effect_{name}_relative": effect.relative}
        metrics |= {
            "true_goal_relative": result.truth.goal_relative,
            "true_proxy_relative": result.truth.proxy_relative,
        }
        registry.log_metrics(metrics)
    summary = (
        f"run {run_id}: goal {result.goal_verdict} (true {result.truth.goal_verdict}), proxy {result.proxy_verdict}"
    )
    for role, arm in ((CONTROL, control), (TREATMENT, treatment)):
        registry.tag_version(settings.ranker_model_name, arm.version, {f"abtest/{result.first_day}/{role}": summary})
    return run_id


def _write(result: ABTestResult, directory: Path, logs: pd.DataFrame) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(directory / "result.json") as tmp:
        tmp.write_text(json.dumps(result.as_dict(), indent=2, default=str))
    atomic.write_parquet(logs, directory / "logs.parquet")
