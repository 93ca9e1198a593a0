"""Is the promotion gate right? Champion/challenger pairs judged offline, off-policy and by A/B,
each against the simulated world's truth.

    python benchmarks/offline_online.py [--quick | --small] [--home DIR] [--seed 7] [--fresh]
    python benchmarks/offline_online.py --tune --seed 11     # choose the gate's margin on another seed

One world with clickbait (items that win clicks and lose time spent and, through satisfaction,
next-day visits) is simulated and run through the real pipeline (Dagster, Feast, MLflow), which
promotes a champion. Ranker variants (``experiments.variants``: seeds and hyperparameters,
fewer features, a click-only model of item appeal that favours clickbait, a popularity-heavy
one, long-click labels) are trained through Dagster on the same training set, plus a
decalibrated copy of the champion. Pairs of them, in both directions, are then judged four ways:

1. the proxy-only gate: today's ``promotion/policy.yaml`` without the off-policy rule, on the
   holdout's served lists (``evaluation.holdout``), exactly as ``judge_challenger`` compares;
2. the full gate: the same rules plus the off-policy goal rule, fed by
3. off-policy estimates (``evaluation.offpolicy``, doubly robust) from the logs of an exploring
   champion (``experiments.offpolicy``), of clicks and time spent per slate;
4. a simulated A/B test through serving's request path (``experiments.abtest``).

The truth is the world's expected goal (time spent per user over the test's horizon, retention
included) of each version serving the same users, from true utilities without sampling noise.
A pair whose true effect is under ``NEGLIGIBLE_RELATIVE_EFFECT`` (0.5% of the control's goal,
fixed in code before any run) is left out of the agreement counts. A gate agrees when it
promotes a challenger whose true goal effect is positive or refuses one whose effect is negative;
agreements come with Wilson 95% intervals.

Off-policy error is split in two: against its own estimand, computed exactly (each model's
slates on the logged requests, valued by the world's true utilities: ``slate truth``), which is
sampling noise, and that estimand against the truth, which is the gap between a per-slate
time spent and a multi-day goal with retention in it.

Everything pairs share is cached under ``--home``: the world, the pipeline's models, the
variants, the exploration logs. ``--quick`` runs four pairs on a smaller world.
Prints the pair table, the plot's path, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import lake
from core.settings import RelaySettings
from evaluation.comparison import ModelView, compare
from evaluation.holdout import HoldoutData, configuration_views, holdout_data
from evaluation.offpolicy import compare as compare_offpolicy
from evaluation.online_effects import wilson_interval
from experiments.abtest import (
    NEGLIGIBLE_RELATIVE_EFFECT,
    ABTestConfig,
    arm_effects,
    run_split,
    true_effect_of,
    truth_users,
)
from experiments.arms import CONTROL, TREATMENT
from experiments.offpolicy import (
    EXPLORATION_TEMPERATURE,
    ExplorationLog,
    explore,
    offpolicy_lifts,
    target_slates,
    true_slate_values,
)
from experiments.serving_policy import ServingPolicy
from features.feast_store import open_store
from promotion.policy import DEFAULT_POLICY, PromotionPolicy, decide
from serving.contract import verify_embeddings
from serving.options import ServingOptions
from serving.recommender import Recommender
from simulator.environment import Rollout, expected_rollout
from simulator.simulate import simulate_into
from simulator.state import UserState
from simulator.world import World, WorldConfig
from training import registry
from training.ranker.bundle import TWO_STAGE, RankerBundle

BASE = "champion"
DECALIBRATED = "decalibrated"
FULL_PAIRS: list[tuple[str, str]] = [
    (BASE, "long_clicks"),
    (BASE, "clickbait"),
    (BASE, "fewer_features"),
    (BASE, "popularity_heavy"),
    (BASE, "no_retrieval_signal"),
    (BASE, "seed_1"),
    (BASE, "shallow"),
    (BASE, "lambdarank"),
    (BASE, DECALIBRATED),
    ("long_clicks", BASE),
    ("clickbait", BASE),
    ("fewer_features", BASE),
    ("popularity_heavy", BASE),
    ("no_retrieval_signal", BASE),
    ("shallow", BASE),
    ("lambdarank", BASE),
    ("clickbait", "long_clicks"),
    ("long_clicks", "clickbait"),
    ("popularity_heavy", "long_clicks"),
    ("long_clicks", "popularity_heavy"),
    ("fewer_features", "long_clicks"),
    ("clickbait", "popularity_heavy"),
    ("popularity_heavy", "clickbait"),
    ("seed_1", "long_clicks"),
]
QUICK_PAIRS = [(BASE, "long_clicks"), (BASE, "clickbait"), ("long_clicks", BASE), ("clickbait", BASE)]


@dataclass(frozen=True)
class Scale:
    world: WorldConfig
    ab_days: int
    explore_days: int
    truth_users: int
    sasrec_epochs: int


# Off-policy CIs are noise-limited by the number of logged requests (the reward's own noise, not
# the weights: halving the exploring temperature leaves them as wide), so the full run logs 12
# days (~10,800 requests); the A/B tests and the truth's horizon are 3 days.
FULL = Scale(WorldConfig(clickbait_share=0.2), ab_days=3, explore_days=12, truth_users=600, sasrec_epochs=30)
QUICK = Scale(
    WorldConfig(n_users=700, n_items=400, n_days=35, clickbait_share=0.2, sessions_per_user_day=0.6),
    ab_days=3,
    explore_days=2,
    truth_users=300,
    sasrec_epochs=4,
)
SMALL = replace(QUICK, explore_days=4)  # every pair on the smaller world: twice the exploration


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- shared, cached stages ------------------------------------------------------------------


def build_world_and_champion(settings: RelaySettings, scale: Scale, seed: int) -> None:
    """The world and the pipeline's champion, through the real CLI path (Dagster, Feast, MLflow)."""
    from orchestration.runner import run_cycle

    if not (settings.world_dir / "world.json").exists():
        log(f"simulating {scale.world.n_users} users x {scale.world.n_days} days (seed {seed})")
        simulate_into(settings, replace(scale.world, seed=seed), progress=False)
    registry.configure(settings)
    if registry.alias_version(settings.ranker_model_name, registry.CHAMPION) is not None:
        return
    log("running the pipeline (ingest, features, SASRec, ranker, gate)")
    world = World.load(settings.world_dir)
    first = world.config.start.isoformat()
    last = (world.config.start + pd.Timedelta(days=world.config.n_days - 1)).isoformat()
    training = {"ops": {"sasrec_model": {"config": {"epochs": scale.sasrec_epochs}}}}
    result = run_cycle(settings, first, last, training_config=training)
    if not result.decision.promoted:
        raise RuntimeError(f"the pipeline promoted no champion: {result.evaluation.reason}")


def train_variants(settings: RelaySettings, names: set[str]) -> dict[str, int]:
    """Version of each named model; variants are trained through Dagster once and remembered."""
    from orchestration.experiment_runner import train_variant

    path = settings.root / "bench_models.json"
    versions = json.loads(path.read_text()) if path.exists() else {}
    registry.configure(settings)
    versions[BASE] = int(registry.alias_version(settings.ranker_model_name, registry.CHAMPION).version)
    for name in sorted(names - {BASE, DECALIBRATED} - set(versions)):
        log(f"training variant {name}")
        versions[name] = train_variant(settings, name)
        path.write_text(json.dumps(versions, indent=2))
    return versions


def decalibrate(bundle: RankerBundle) -> RankerBundle:
    """The champion with a calibrator that squashes probabilities towards 0 (p**1.6): the same
    order, so the same slates, and a broken score contract."""
    inner = bundle.calibrator

    class Squashed:
        def apply(self, raw: np.ndarray) -> np.ndarray:
            return np.power(inner.apply(raw), 1.6)

    return replace(bundle, calibrator=Squashed())


def recommender(settings: RelaySettings, bundle: RankerBundle, version: int) -> Recommender:
    store = open_store(settings)
    verify_embeddings(store, bundle)
    return Recommender(
        store=store, bundle=bundle, model_version=version, options=ServingOptions(), configuration=TWO_STAGE
    )


def cached(path: Path, build):
    if path.exists():
        return pickle.loads(path.read_bytes())
    value = build()
    path.write_bytes(pickle.dumps(value))
    return value


# -- per model, per pair ----------------------------------------------------------------------


@dataclass
class Model:
    name: str
    version: int
    recommender: Recommender
    view: ModelView  # its two-stage view on the holdout's served lists
    slates: np.ndarray  # what it serves on each exploration request
    slate_truth: dict[str, float]  # those slates' exact expected clicks and time spent per slate
    rollout: Rollout  # its expected outcomes serving the truth users


@dataclass(frozen=True)
class PairResult:
    control: str
    treatment: str
    true_goal: float  # relative
    true_proxy: float
    proxy_gate: bool
    proxy_gate_reason: str
    full_gate: bool
    full_gate_reason: str
    ope_goal: float
    ope_goal_low: float
    ope_goal_high: float
    ope_verdict: str | None
    ope_support: float
    ab_goal: float
    ab_goal_low: float
    ab_goal_high: float
    ab_verdict: str
    ab_proxy_verdict: str
    gate_by_margin: tuple[tuple[float, bool], ...] = ()  # the full gate's decision at each tuning margin
    true_slate_goal: float = float("nan")  # the exact relative lift OPE estimates (per slate, logged requests)
    item_model_goal: float = float("nan")  # the same DR estimate with a per-item reward model only
    item_model_low: float = float("nan")
    item_model_high: float = float("nan")

    @property
    def negligible(self) -> bool:
        return abs(self.true_goal) < NEGLIGIBLE_RELATIVE_EFFECT

    def agrees(self, promote: bool) -> bool:
        return promote == (self.true_goal > 0)


TUNING_MARGINS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)


def judge_pair(
    control: Model,
    treatment: Model,
    data: HoldoutData,
    exploration: ExplorationLog,
    world: World,
    state: UserState,
    days: list[int],
    policies: tuple[PromotionPolicy, PromotionPolicy],
    seed: int,
    cache: Path,
    ab: bool = True,
) -> PairResult:
    proxy_policy, full_policy = policies
    thresholds = list(full_policy.business_thresholds)
    comparison = compare(treatment.view, control.view, data.holdout, thresholds)
    proxy_verdict = decide(comparison, proxy_policy, two_stage=True)
    lifts = offpolicy_lifts(exploration, control.slates, treatment.slates, seed=seed)
    full_verdict = decide(comparison, full_policy, two_stage=True, offpolicy=lifts)
    goal = lifts["timespent"]
    item_only = compare_offpolicy(
        replace(exploration.logged, support_score=None), control.slates, treatment.slates, "timespent", seed=seed
    )
    by_margin = tuple(
        (m, decide(comparison, replace(full_policy, offpolicy_goal_margin=m), two_stage=True, offpolicy=lifts).passed)
        for m in TUNING_MARGINS
    )
    truth = true_effect_of(control.rollout, treatment.rollout)
    ab_goal, ab_proxy = None, "not run"
    if ab:
        # One test of A against B also answers B against A: run each unordered pair once, with
        # the first name in sorted order as its control, and read it the other way when asked.
        first, second = sorted((control, treatment), key=lambda model: model.name)
        config = ABTestConfig(treatment=second.version, control=first.version, days=len(days), seed=seed)
        arms = {
            CONTROL: ServingPolicy(first.recommender, seed=seed),
            TREATMENT: ServingPolicy(second.recommender, seed=seed),
        }
        split = cached(
            cache / f"ab-{first.name}-{second.name}.pkl", lambda: run_split(world, state, arms, config, days)
        )
        if first is not control:
            split = replace(split, treated={user: not treated for user, treated in split.treated.items()})
        effects = arm_effects(split, seed)
        ab_goal, ab_proxy = effects["goal_per_user"], effects["clicks_per_user"].verdict
    return PairResult(
        control=control.name,
        treatment=treatment.name,
        true_goal=truth.goal_relative,
        true_proxy=truth.proxy_relative,
        proxy_gate=proxy_verdict.passed,
        proxy_gate_reason=proxy_verdict.reason,
        full_gate=full_verdict.passed,
        full_gate_reason=full_verdict.reason,
        ope_goal=goal.relative_lift,
        ope_goal_low=goal.relative_ci_low,
        ope_goal_high=goal.relative_ci_high,
        ope_verdict=goal.verdict,
        ope_support=goal.support_treatment,
        ab_goal=ab_goal.relative if ab_goal else float("nan"),
        ab_goal_low=ab_goal.relative_ci_low if ab_goal else float("nan"),
        ab_goal_high=ab_goal.relative_ci_high if ab_goal else float("nan"),
        ab_verdict=ab_goal.verdict if ab_goal else "not run",
        ab_proxy_verdict=ab_proxy,
        gate_by_margin=by_margin,
        true_slate_goal=treatment.slate_truth["timespent"] / control.slate_truth["timespent"] - 1.0,
        item_model_goal=item_only.relative_lift,
        item_model_low=item_only.relative_ci_low,
        item_model_high=item_only.relative_ci_high,
    )


def summarise(results: list[PairResult], margin: float) -> dict:
    counted = [r for r in results if not r.negligible]
    positives = sum(r.true_goal > 0 for r in counted)

    def agreement(decisions: list[bool]) -> tuple[float, float, float]:
        hits = sum(decisions)
        low, high = wilson_interval(hits, len(decisions))
        return (hits / len(decisions) if decisions else float("nan")), low, high

    proxy = agreement([r.agrees(r.proxy_gate) for r in counted])
    full = agreement([r.agrees(r.full_gate) for r in counted])
    with_ope = [r for r in counted if r.ope_verdict is not None]
    ope = agreement([r.agrees(r.ope_goal_low >= -margin) for r in with_ope])
    ab_right = [
        (r.ab_verdict == "win" and r.true_goal > 0) or (r.ab_verdict == "loss" and r.true_goal < 0) for r in counted
    ]
    return {
        "n_pairs": len(results),
        "n_counted": len(counted),
        "n_true_positive": positives,
        "n_true_negative": len(counted) - positives,
        "n_no_ope_verdict": sum(r.ope_verdict is None for r in results),
        "proxy_gate_agreement": proxy[0],
        "proxy_gate_agreement_ci": [proxy[1], proxy[2]],
        "gate_agreement": full[0],
        "gate_agreement_ci": [full[1], full[2]],
        "ope_agreement": ope[0],
        "ope_agreement_ci": [ope[1], ope[2]],
        "ope_mae": float(np.mean([abs(r.ope_goal - r.true_goal) for r in results])) if results else float("nan"),
        "ope_sign_agreement": float(np.mean([(r.ope_goal > 0) == (r.true_goal > 0) for r in counted])),
        # The error split: OPE against its own exact estimand (noise), that estimand against the truth.
        "ope_noise_mae": float(np.mean([abs(r.ope_goal - r.true_slate_goal) for r in results])),
        "slate_truth_sign_agreement": float(np.mean([(r.true_slate_goal > 0) == (r.true_goal > 0) for r in counted])),
        "ope_ci_width": float(np.median([r.ope_goal_high - r.ope_goal_low for r in results])),
        "item_model_ci_width": float(np.median([r.item_model_high - r.item_model_low for r in results])),
        "item_model_sign_agreement": float(np.mean([(r.item_model_goal > 0) == (r.true_goal > 0) for r in counted])),
        "ab_power": float(np.mean(ab_right)) if ab_right else float("nan"),
        "offpolicy_goal_margin": margin,
    }


def print_table(results: list[PairResult]) -> None:
    frame = pd.DataFrame(
        {
            "control": [r.control for r in results],
            "treatment": [r.treatment for r in results],
            "true goal": [f"{r.true_goal:+.2%}" + (" ~" if r.negligible else "") for r in results],
            "true proxy": [f"{r.true_proxy:+.2%}" for r in results],
            "slate truth": [f"{r.true_slate_goal:+.2%}" for r in results],
            "proxy gate": ["promote" if r.proxy_gate else "refuse" for r in results],
            "full gate": ["promote" if r.full_gate else "refuse" for r in results],
            "OPE goal [95% CI]": [
                f"{r.ope_goal:+.2%} [{r.ope_goal_low:+.2%}, {r.ope_goal_high:+.2%}]" for r in results
            ],
            "OPE": [r.ope_verdict or "no verdict" for r in results],
            "A/B goal [95% CI]": [f"{r.ab_goal:+.2%} [{r.ab_goal_low:+.2%}, {r.ab_goal_high:+.2%}]" for r in results],
            "A/B": [r.ab_verdict for r in results],
        }
    )
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(frame.to_string(index=False))
    print("~: true effect under 0.5% of the control's goal (negligible, not counted)")


def plot(results: list[PairResult], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = np.array([r.true_goal for r in results]) * 100
    figure, axes = plt.subplots(1, 2, figsize=(12, 5))
    for axis, (label, values, low, high) in zip(
        axes,
        (
            (
                "off-policy predicted",
                [r.ope_goal for r in results],
                [r.ope_goal_low for r in results],
                [r.ope_goal_high for r in results],
            ),
            (
                "A/B measured",
                [r.ab_goal for r in results],
                [r.ab_goal_low for r in results],
                [r.ab_goal_high for r in results],
            ),
        ),
        strict=True,
    ):
        values, low, high = (np.array(v) * 100 for v in (values, low, high))
        colours = ["tab:green" if r.full_gate else "tab:red" for r in results]
        axis.errorbar(truth, values, yerr=[values - low, high - values], fmt="none", ecolor="grey", alpha=0.5)
        axis.scatter(truth, values, c=colours, zorder=3)
        bound = max(np.abs(truth).max(), np.nanmax(np.abs(values))) * 1.1 + 0.5
        axis.plot([-bound, bound], [-bound, bound], "k--", lw=0.8)
        axis.axvspan(-NEGLIGIBLE_RELATIVE_EFFECT * 100, NEGLIGIBLE_RELATIVE_EFFECT * 100, color="grey", alpha=0.15)
        axis.axhline(0, color="k", lw=0.5)
        axis.axvline(0, color="k", lw=0.5)
        axis.set_xlabel("true goal effect (% time spent per user over the test)")
        axis.set_ylabel(f"{label} goal effect (%)")
        axis.set_title(f"{label} vs truth (green: full gate promotes)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 pairs on a smaller world")
    parser.add_argument("--home", type=Path, default=None, help="cache directory (default var/bench/offline_online-*)")
    parser.add_argument("--seed", type=int, default=7, help="world seed (the table's; tune on another)")
    parser.add_argument("--fresh", action="store_true", help="rebuild every cached stage")
    parser.add_argument("--explore-days", type=int, default=None, help="days the champion explores (default: scale's)")
    parser.add_argument(
        "--temperature", type=float, default=EXPLORATION_TEMPERATURE, help="the exploring champion's temperature"
    )
    parser.add_argument("--small", action="store_true", help="every pair on the smaller world (700 users, 35 days)")
    parser.add_argument("--tune", action="store_true", help="no A/B tests: the agreement of each margin")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    # Tuning runs no A/B tests: a margin only needs gate verdicts and the truth.
    scale = QUICK if args.quick else SMALL if args.small else FULL
    pairs = QUICK_PAIRS if args.quick else FULL_PAIRS
    kind = ("quick" if args.quick else "small" if args.small else "full") + ("-tune" if args.tune else "")
    home = args.home or Path("var/bench") / f"offline_online-{kind}-seed{args.seed}"
    if args.fresh and home.exists():
        import shutil

        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["RELAY_HOME"] = str(home.resolve())
    settings = RelaySettings(home=home.resolve())
    settings.ensure_dirs()

    build_world_and_champion(settings, scale, args.seed)
    names = {name for pair in pairs for name in pair}
    versions = train_variants(settings, names)
    world, state = World.load(settings.world_dir), UserState.load(settings.world_dir)
    first = world.config.n_days
    n_explore = args.explore_days or scale.explore_days
    explore_days = list(range(first, first + n_explore))
    logging = f"d{n_explore}-t{args.temperature:g}"  # cache key of everything the exploration log feeds
    test_days = list(range(first, first + scale.ab_days))

    from orchestration.definitions import build_definitions
    from orchestration.runner import dagster_instance

    split = build_definitions(settings).load_asset_value("training_window", instance=dagster_instance(settings))
    store = open_store(settings)
    with lake.connect(settings) as con:
        data = holdout_data(con, split, lake.read_catalog(settings))
    bundles = {
        name: registry.load_verified_ranker(settings.ranker_model_name, versions[name])[0]
        for name in names - {DECALIBRATED}
    }
    if DECALIBRATED in names:
        bundles[DECALIBRATED] = decalibrate(bundles[BASE])
        versions[DECALIBRATED] = versions[BASE] * 1000  # not registered: a local copy with another calibrator
    recommenders = {name: recommender(settings, bundle, versions[name]) for name, bundle in bundles.items()}

    log(f"exploration logs: the champion explores for {n_explore} days at temperature {args.temperature:g}")
    exploration = cached(
        home / f"exploration-{logging}.pkl",
        lambda: explore(
            world, state, recommenders[BASE], explore_days, args.seed, temperature=args.temperature, progress=False
        ),
    )
    log(f"{len(exploration.requests)} logged requests")
    users = truth_users(world, args.seed)[: scale.truth_users]
    models = {}
    for name in sorted(names):
        log(f"model {name} (v{versions[name]}): holdout view, slates on the exploration log, expected rollout")
        views, _ = configuration_views(store, bundles[name], name, versions[name], data)
        slates = cached(
            home / f"slates-{name}-{logging}.pkl", lambda name=name: target_slates(recommenders[name], exploration)
        )
        rollout = cached(
            home / f"rollout-{name}.pkl",
            lambda name=name: expected_rollout(
                world, state, ServingPolicy(recommenders[name], seed=args.seed), test_days, users=users
            ),
        )
        truth = true_slate_values(world, exploration, slates)
        models[name] = Model(name, versions[name], recommenders[name], views[TWO_STAGE], slates, truth, rollout)

    full_policy = PromotionPolicy.load(DEFAULT_POLICY)
    policies = (PromotionPolicy.proxy_only(), full_policy)
    results = []
    for control, treatment in pairs:
        log(f"pair {control} -> {treatment}")
        results.append(
            judge_pair(
                models[control],
                models[treatment],
                data,
                exploration,
                world,
                state,
                test_days,
                policies,
                args.seed,
                home,
                ab=not args.tune,
            )
        )
    print_table(results)
    for r in results:
        if not r.proxy_gate:
            print(f"  proxy gate refused {r.control} -> {r.treatment}: {r.proxy_gate_reason}")
        if not r.full_gate:
            print(f"  full gate refused {r.control} -> {r.treatment}: {r.full_gate_reason}")
    (home / f"pairs-{logging}.json").write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    figure = plot(results, home / f"offline_online-{logging}.png")
    print(f"plot: {figure}")
    if args.tune:
        counted = [r for r in results if not r.negligible]
        for index, margin in enumerate(TUNING_MARGINS):
            hits = sum(r.agrees(r.gate_by_margin[index][1]) for r in counted)
            print(f"offpolicy_goal_margin {margin:.3f}: full gate agrees on {hits}/{len(counted)}")
    summary = summarise(results, full_policy.offpolicy_goal_margin or 0.0)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["quick"] = args.quick
    summary["explore_days"], summary["temperature"] = n_explore, args.temperature
    summary["logged_requests"] = len(exploration.requests)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
