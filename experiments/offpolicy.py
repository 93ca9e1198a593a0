"""Off-policy evaluation runs: an exploring champion logs, candidates are scored on its logs.

The logging policy is the champion with serving's exploration on (temperature > 0) over a
candidate set wide enough for challengers: the champion's own pool (retrieval plus popular
items) and a random slice of the catalogue. Each shown item logs its conditional propensity, as
serving does; the run also keeps what position-based estimators need and a log cannot carry:
the marginal P(item at position k) of every candidate of each request (Monte Carlo over the
same Plackett–Luce sampler, ``slate.marginals``), and the champion's calibrated score of each
candidate, which the doubly robust reward model rescales per item so that it knows the user.
A candidate model is then asked what it would have served on each logged request, and
``evaluation.offpolicy`` estimates its clicks and time spent per slate from the logs, before any
A/B test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from core import atomic
from core.settings import RelaySettings
from evaluation.offpolicy import LoggedSlates, OffPolicyLift, compare
from serving.champion import load_recommender
from serving.options import ServingOptions
from serving.recommender import Recommender
from simulator.environment import OnlineEnvironment, ServedSlate
from simulator.state import UserState
from simulator.world import World, expected_slate_outcomes
from slate.marginals import slate_marginals
from slate.rules import draw_slate, logits
from training import registry
from training.ranker.bundle import CONFIGURATIONS

EXPLORATION_TEMPERATURE = 1.0
RANDOM_SLICE = 50  # random catalogue items added to each exploring request's candidates
MARGINAL_SAMPLES = 1_000  # Monte Carlo standard error of a marginal <= 0.5 / sqrt(1000) ~ 0.016
SLATE_SIZE = 10
SCORE_FLOOR = 1e-6  # logged scores seed the doubly robust reward model, which needs them > 0


@dataclass
class ExploringPolicy:
    """The champion's candidates (plus a random slice), sampled by Plackett–Luce on its calibrated
    scores at ``temperature``; records each request's candidates and their marginals."""

    recommender: Recommender
    temperature: float = EXPLORATION_TEMPERATURE
    random_slice: int = RANDOM_SLICE
    k: int = SLATE_SIZE
    seed: int = 0
    consumed: dict[int, list[int]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError("an exploring logger needs a positive temperature")
        bundle = self.recommender.bundle
        self._catalogue, self._categories = bundle.item_ids, bundle.item_categories

    def __call__(self, user_id: int, ts: pd.Timestamp) -> ServedSlate:
        self.recommender.clock = lambda: ts
        rng = np.random.default_rng([self.seed, int(user_id), int(ts.value) % 2**32])
        exclude = list(self.consumed.get(int(user_id), []))
        pool = self.recommender.pool(int(user_id), exclude)
        items, scores, categories = pool.item_ids, pool.scores, pool.categories
        outside = ~np.isin(self._catalogue, np.concatenate([items, pool.seen]))
        if self.random_slice and outside.any():
            extra = rng.choice(np.flatnonzero(outside), size=min(self.random_slice, int(outside.sum())), replace=False)
            floor = float(np.nanmin(scores)) if len(scores) else 0.01
            items = np.concatenate([items, self._catalogue[extra]])
            scores = np.concatenate([scores, np.full(len(extra), floor)])
            categories = np.concatenate([categories, self._categories[extra]])
        scores = np.nan_to_num(scores, nan=float(np.nanmin(scores)) if np.isfinite(scores).any() else 0.01)
        eligible = np.ones(len(items), dtype=bool)
        cap = self.recommender.options.max_per_category
        slate = draw_slate(scores, categories, eligible, self.k, cap, self.temperature, rng, scores)
        sampled = slate_marginals(
            logits(scores) / self.temperature, categories, eligible, self.k, cap, MARGINAL_SAMPLES, rng
        )
        # The realised draw is one more sample: every shown (item, position) then has a positive
        # marginal, which bounds an importance weight at MARGINAL_SAMPLES + 1.
        drawn = np.zeros_like(sampled)
        drawn[slate.positions, np.arange(len(slate.positions))] = 1.0
        marginals = (sampled * MARGINAL_SAMPLES + drawn) / (MARGINAL_SAMPLES + 1)
        self.requests.append(
            {
                "user_id": int(user_id),
                "ts": ts,
                "items": items,
                "marginals": marginals,
                "scores": np.clip(scores, SCORE_FLOOR, None),
                "exclude": exclude,
            }
        )
        return ServedSlate(
            item_ids=items[slate.positions].astype(np.int64),
            propensities=slate.propensities,
            tag=f"explore-v{self.recommender.model_version}",
        )

    def observe(self, logs: pd.DataFrame) -> None:
        clicks = logs[logs["event_type"] == "click"]
        for user_id, item_id in zip(clicks["user_id"].to_numpy(), clicks["item_id"].to_numpy(), strict=True):
            self.consumed.setdefault(int(user_id), []).append(int(item_id))


@dataclass(frozen=True)
class ExplorationLog:
    """What the exploring champion logged, aligned by request: the estimators' input (shown items
    with the world's responses, and each request's candidates with their marginals) and, per
    request, the user, time and exclusions a candidate model must be asked with."""

    shown: pd.DataFrame  # session, item, position, click, timespent, propensity
    support: pd.DataFrame  # session, item, m_1..m_K
    requests: pd.DataFrame  # session (0..S-1), user_id, ts, exclude
    logging_version: int

    @cached_property
    def logged(self) -> LoggedSlates:
        return LoggedSlates.from_frames(self.shown, self.support, n_sessions=len(self.requests))

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("shown", "support", "requests"):
            atomic.write_parquet(getattr(self, name), directory / f"{name}.parquet")
        with atomic.atomic_path(directory / "log.json") as tmp:
            tmp.write_text(json.dumps({"logging_version": self.logging_version, "sessions": len(self.requests)}))
        return directory

    @classmethod
    def load(cls, directory: Path) -> ExplorationLog:
        if not (directory / "log.json").exists():
            raise FileNotFoundError(f"no exploration log at {directory}; run `relay explore` first")
        meta = json.loads((directory / "log.json").read_text())
        frames = {name: pd.read_parquet(directory / f"{name}.parquet") for name in ("shown", "support", "requests")}
        frames["requests"]["exclude"] = frames["requests"]["exclude"].map(list)
        return cls(**frames, logging_version=int(meta["logging_version"]))


def explore(
    world: World,
    state: UserState,
    recommender: Recommender,
    day_indices: list[int],
    seed: int = 0,
    temperature: float = EXPLORATION_TEMPERATURE,
    progress: bool = True,
) -> ExplorationLog:
    """Run the exploring champion in the world for ``day_indices`` and keep its logs."""
    policy = ExploringPolicy(recommender, temperature=temperature, seed=seed)
    environment = OnlineEnvironment(world, state, seed=seed)
    logs = []
    for day_index in tqdm(day_indices, desc="exploration days", unit="day", disable=not progress):
        outcome = environment.step(day_index, policy)
        policy.observe(outcome.logs)
        logs.append(outcome.logs)
    return exploration_log(pd.concat(logs, ignore_index=True), policy.requests, recommender.model_version)


def exploration_log(logs: pd.DataFrame, requests: list[dict], version: int) -> ExplorationLog:
    """Join the world's responses to the logged requests (by user and request time)."""
    index = pd.DataFrame(
        {
            "session": np.arange(len(requests)),
            "user_id": [r["user_id"] for r in requests],
            "ts_key": [r["ts"].value for r in requests],
        }
    )
    impressions = logs[logs["event_type"] == "impression"]
    starts = impressions.groupby("session_id")["ts"].transform("min")
    keyed = impressions.assign(ts_key=starts.astype("int64"))
    sessions = (
        keyed[["session_id", "user_id", "ts_key"]]
        .drop_duplicates("session_id")
        .merge(index, on=["user_id", "ts_key"], how="left", validate="one_to_one")
    )
    if sessions["session"].isna().any():
        raise RuntimeError("exploration logs hold sessions that no logged request explains")
    session_of = dict(zip(sessions["session_id"], sessions["session"].astype(int), strict=True))
    clicks = logs[logs["event_type"] == "click"].set_index(["session_id", "item_id"])["timespent_s"]
    shown = pd.DataFrame(
        {
            "session": impressions["session_id"].map(session_of).to_numpy(),
            "item": impressions["item_id"].to_numpy(),
            "position": impressions["position"].to_numpy(),
            "propensity": impressions["propensity"].to_numpy(),
        }
    )
    key = pd.MultiIndex.from_arrays([impressions["session_id"], impressions["item_id"]])
    timespent = clicks.reindex(key).to_numpy()
    shown["click"] = np.isfinite(timespent).astype(float)
    shown["timespent"] = np.nan_to_num(timespent, nan=0.0)
    support = pd.concat(
        [
            pd.DataFrame(
                {
                    "session": s,
                    "item": r["items"],
                    "score": r["scores"],
                    **{f"m_{k + 1}": r["marginals"][:, k] for k in range(SLATE_SIZE)},
                }
            )
            for s, r in enumerate(requests)
        ],
        ignore_index=True,
    )
    frame = pd.DataFrame(
        {
            "session": index["session"],
            "user_id": index["user_id"],
            "ts": [r["ts"] for r in requests],
            "exclude": [r["exclude"] for r in requests],
        }
    )
    return ExplorationLog(shown=shown, support=support, requests=frame, logging_version=version)


def target_slates(recommender: Recommender, log: ExplorationLog, k: int = SLATE_SIZE) -> np.ndarray:
    """(S, k) what ``recommender`` would have served on each logged request (-1 pads)."""
    out = np.full((len(log.requests), k), -1, dtype=np.int64)
    for row in log.requests.itertuples(index=False):
        recommender.clock = lambda ts=row.ts: ts
        served = recommender.recommend(int(row.user_id), k, list(row.exclude))
        out[row.session, : len(served.item_ids)] = served.item_ids
    return out


def true_slate_values(world: World, log: ExplorationLog, slates: np.ndarray) -> dict[str, float]:
    """What an off-policy estimate estimates, exactly: the expected clicks and time spent per
    slate of ``slates`` (from ``target_slates``) on the logged requests, from the world's true
    utilities. Off-policy error against this is sampling noise; this against an A/B truth is the
    gap between a per-slate estimand and a multi-day goal."""
    requests = log.requests
    start = pd.Timestamp(world.config.start.isoformat(), tz="UTC")
    days = ((pd.to_datetime(requests["ts"], utc=True) - start) // pd.Timedelta(days=1)).to_numpy()
    users = requests["user_id"].to_numpy(dtype=np.int64) - 1
    zero_based = np.where(slates >= 0, slates - 1, -1)
    clicks, timespent = np.zeros(len(requests)), np.zeros(len(requests))
    for day in np.unique(days):
        rows = requests["session"].to_numpy()[days == day]
        expected = expected_slate_outcomes(world, int(day), users[rows], zero_based[rows])
        clicks[rows], timespent[rows] = expected.clicks, expected.timespent_s
    return {"click": float(clicks.mean()), "timespent": float(timespent.mean())}


def offpolicy_lifts(
    log: ExplorationLog, control: np.ndarray, treatment: np.ndarray, seed: int = 0
) -> dict[str, OffPolicyLift]:
    """Predicted lift of clicks (the proxy) and time spent (the goal) per slate."""
    return {
        reward: compare(log.logged, control, treatment, reward=reward, seed=seed) for reward in ("click", "timespent")
    }


def exploration_dir(settings: RelaySettings, version: int) -> Path:
    """Where the exploration log of champion ``version`` lives (one per logging version)."""
    return settings.root / "offpolicy" / f"v{version}"


def explore_into(
    settings: RelaySettings,
    days: int,
    seed: int = 0,
    temperature: float = EXPLORATION_TEMPERATURE,
    progress: bool = True,
) -> tuple[ExplorationLog, Path]:
    """Let the champion explore for ``days`` simulated days after the world's history, and keep
    the log where the promotion gate looks for it."""
    world, state = World.load(settings.world_dir), UserState.load(settings.world_dir)
    registry.configure(settings)
    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if champion is None:
        raise ValueError("no champion to explore with: run `relay run` (or `make demo`) first")
    version = int(champion.version)
    served = load_recommender(settings, version, ServingOptions())
    first = world.config.n_days
    log = explore(world, state, served, list(range(first, first + days)), seed, temperature, progress)
    return log, log.save(exploration_dir(settings, version))


def predicted_online_lift(
    settings: RelaySettings, challenger_version: int, seed: int = 0
) -> tuple[dict[str, dict[str, OffPolicyLift]] | None, str]:
    """Each configuration of the challenger against the current champion as it serves, predicted
    from the champion's exploration log: ({configuration: {reward: lift}}, "") or (None, why
    there is none)."""
    registry.configure(settings)
    current = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if current is None or int(current.version) == challenger_version:
        return None, "no champion: nothing to predict a lift over"
    champion_version = int(current.version)
    directory = exploration_dir(settings, champion_version)
    if not (directory / "log.json").exists():
        return None, f"no exploration log of champion v{champion_version} (run `relay explore`)"
    log = ExplorationLog.load(directory)
    control = target_slates(load_recommender(settings, champion_version, ServingOptions()), log)
    challenger = load_recommender(settings, challenger_version, ServingOptions())
    lifts = {}
    for configuration in CONFIGURATIONS:
        challenger.configuration = configuration
        lifts[configuration] = offpolicy_lifts(log, control, target_slates(challenger, log), seed=seed)
    return lifts, ""
