"""Two-stage (SASRec retrieval + LightGBM ranker) against SASRec alone, and what each ranker fix is worth.

    python benchmarks/two_stage.py [--quick] [--datasets demo,movielens-100k] [--home-demo DIR]
                                   [--home-movielens DIR] [--keep]

Each dataset gets a fresh data directory built by the real CLI in a subprocess: the demo world
(``relay simulate`` + ``relay run``) and MovieLens-100K (``relay import movielens-100k`` +
``relay run``); ``--home-*`` reuses a built one instead. Then, in process, on the cycle's split
and embedding version 1, seven rankers are fitted (``RankerConfig()`` defaults but the objective) and each is
judged on the holdout under the served-list protocol (``evaluation.holdout.served_lists``):

1. ranker as before: lambdarank on logged impressions only (an imported log's are synthetic),
   slates in calibrated order, over SASRec's candidates alone
2. + raw-score order: the same ranker, slates ordered by its raw score
3. candidates, lambdarank: the pipeline's candidate rows, but the lambdarank objective
4. candidates, 1-day labels: SASRec's top-200 candidates labelled with the same day's clicks
5. candidates, no rank feature: the pipeline's rows with ``retrieval_rank`` blanked
6. candidates, SASRec's pool only: trained and served without the popular items SASRec did not
   retrieve (a single-source pool)
7. all fixes (pipeline): what the pipeline trains now (candidates, 7-day labels, the rank
   feature, the binary objective, raw order)

NDCG@10 over every holdout user and over warm users, delta against SASRec alone with a paired
bootstrap 95% CI; a variant's seconds cover building its training set (once per kind of rows),
fitting and serving. Prints a table per dataset, then one JSON line per dataset.

Measured on 2 cores: the demo's variants take about 3-6 minutes on a built home (the 860k-row
candidate training set dominates) after a build of about 5; MovieLens-100K's build (import, then
``relay run`` over its 215 daily partitions) takes 4-5 minutes and its variants under one.
``--quick`` (a 35-day, 1,000-user world, 3 SASRec epochs) runs the demo world only unless
``--datasets`` names MovieLens-100K too, whose partitions fewer epochs do not shorten.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import lake
from core.dataset import read_dataset_span
from core.events import read_events
from core.settings import get_settings
from evaluation.comparison import paired_bootstrap
from evaluation.holdout import HoldoutData, holdout_data, served_lists
from feature_repo.views import ranker_service_name
from features.feast_store import open_store
from training.calibration import Calibrator
from training.cycle_split import cycle_split
from training.metrics import per_user_metrics
from training.ranker.base import Ranker
from training.ranker.bundle import RankerBundle
from training.ranker.candidates import POPULAR_CANDIDATES, POPULARITY_DAYS
from training.ranker.dataset import labelled_impressions
from training.ranker.fit import (
    CalibratedRanker,
    build_training_set,
    fit_calibrated_ranker,
    item_vectors,
    make_bundle,
)
from training.ranker.lgbm import RankerConfig
from training.ranker.training_set import labelled_rows
from training.split import SplitConfig
from training.topk import popular_items

EMBEDDING_VERSION = 1  # the first run's
RELAY = Path(sys.executable).with_name("relay")
DATASETS = ("demo", "movielens-100k")
QUICK_WORLD = [
    "--days",
    "35",
    "--users",
    "1000",
    "--items",
    "500",
]  # 7 SASRec + 14 ranker + 7 holdout days, and 7 spare
EPOCHS = {"demo": 30, "movielens-100k": 10}
QUICK_EPOCHS = 3


@dataclasses.dataclass(frozen=True)
class Variant:
    key: str
    label: str
    rows: str  # "impressions", "candidates", "candidates_1d" or "candidates_sasrec"
    calibrated_order: bool = False
    drop_rank: bool = False
    objective: str = "binary"
    popular_pool: bool = True


VARIANTS = (
    Variant(
        "before", "ranker as before", "impressions", calibrated_order=True, objective="lambdarank", popular_pool=False
    ),
    Variant("raw_order", "+ raw-score order", "impressions", objective="lambdarank", popular_pool=False),
    Variant("candidates_lambdarank", "candidates, lambdarank", "candidates", objective="lambdarank"),
    Variant("candidates_1d", "candidates, 1-day labels", "candidates_1d"),
    Variant("no_rank_feature", "candidates, no rank feature", "candidates", drop_rank=True),
    Variant("no_popular_pool", "candidates, SASRec's pool only", "candidates_sasrec", popular_pool=False),
    Variant("all_fixes", "all fixes (pipeline)", "candidates"),
)


class CalibratedOrder:
    """A fitted ranker whose "raw" score is its isotonic-calibrated one (plateaus and all), so
    ``served_lists`` orders slates the way serving did before ordering by the raw score. It only
    scores: the bundle holding it is never saved or refitted."""

    def __init__(self, inner: Ranker, calibrator: Calibrator) -> None:
        self.features, self.inner, self.calibrator = inner.features, inner, calibrator

    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        return self.calibrator.apply(self.inner.raw_scores(matrix))


# -- step 1: the data directory, built by the CLI ---------------------------------------------
def build_steps(dataset: str, quick: bool) -> list[list[str]]:
    epochs = str(QUICK_EPOCHS if quick else EPOCHS[dataset])
    land = ["simulate", *(QUICK_WORLD if quick else [])] if dataset == "demo" else ["import", "movielens-100k"]
    return [land, ["run", "--epochs", epochs]]


def build_home(dataset: str, home: Path, quick: bool) -> float:
    """Run the CLI steps into ``home``; seconds taken. A failed step ends the benchmark."""
    env = {**os.environ, "RELAY_HOME": str(home)}
    env.pop("RELAY_PARTITIONS_START", None)
    began = time.perf_counter()
    for step in build_steps(dataset, quick):
        started = time.perf_counter()
        done = subprocess.run([str(RELAY), *step], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"`relay {' '.join(step)}` failed (exit {done.returncode}) in {home}", file=sys.stderr)
            print(done.stdout[-2000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
            raise SystemExit(1)
        print(f"  relay {' '.join(step)}: {time.perf_counter() - started:.0f}s", flush=True)
    return time.perf_counter() - began


# -- step 2: the ranker variants, in process -----------------------------------------------------
@dataclasses.dataclass
class Result:
    label: str
    ndcg: np.ndarray  # per holdout user
    rows: int | None = None
    seconds: float | None = None


class Bench:
    """One built data directory: its split, window, holdout, and the variants' training sets."""

    def __init__(self, home: Path) -> None:
        os.environ["RELAY_HOME"] = str(home)
        os.environ.pop("RELAY_PARTITIONS_START", None)
        self.settings = settings = get_settings()
        self.store = open_store(settings)
        self.split = split = cycle_split(settings, SplitConfig())
        self.catalog = lake.read_catalog(settings)
        with lake.connect(settings) as con:
            self.events = read_events(con, start=split.ranker_start_ts, end=split.holdout_start_ts)
            before = split.ranker_start_ts - pd.Timedelta(days=POPULARITY_DAYS)
            self.earlier = read_events(con, start=before, end=split.ranker_start_ts, event_type="click")
            self.data: HoldoutData = holdout_data(con, split, self.catalog)
        clicks = self.events[self.events["event_type"] == "click"]
        self.popular = popular_items(clicks, POPULAR_CANDIDATES)
        span = read_dataset_span(settings.root)
        self.real_impressions = span is None or span.kind != "historical"
        self.days = list(pd.date_range(split.ranker_start_ts, split.holdout_start_ts - pd.Timedelta(days=1), freq="D"))
        self.relevance = self.data.truth.relevance_arrays()
        self.frames: dict[str, pd.DataFrame] = {}
        self.fitted: dict[tuple[str, bool, str], CalibratedRanker] = {}

    def rows(self, kind: str) -> pd.DataFrame:
        """Entity rows before features: the logged impressions as the ranker used to learn from
        them, or ``labelled_rows`` with 1-day or the default labels."""
        if kind == "impressions":
            rows = labelled_impressions(self.events).drop(columns="propensity", errors="ignore")
            last = (rows["ts"].dt.floor("D") == self.days[-1]).to_numpy()
            rows = rows.assign(retrieval_rank=np.nan, weight=1.0, source=np.where(last, "calibration", "impression"))
            return rows.astype({"session_id": str})
        vectors = item_vectors(self.settings.embeddings_dir, EMBEDDING_VERSION)
        extra = {"candidates_1d": {"label_days": 1}, "candidates_sasrec": {"popular_candidates": 0}}.get(kind, {})
        return labelled_rows(
            self.store,
            self.events,
            vectors,
            EMBEDDING_VERSION,
            self.days,
            self.real_impressions,
            earlier_clicks=self.earlier,
            **extra,
        )

    def frame(self, kind: str) -> pd.DataFrame:
        """The training set (rows with point-in-time features), built once per kind of rows."""
        if kind not in self.frames:
            window = (self.split.ranker_start_ts, self.split.holdout_start_ts)
            self.frames[kind], _ = build_training_set(
                self.store, self.rows(kind), EMBEDDING_VERSION, window, self.catalog
            )
        return self.frames[kind]

    def bundle(self, variant: Variant) -> tuple[RankerBundle, int]:
        key = (variant.rows, variant.drop_rank, variant.objective)
        frame = self.frame(variant.rows)
        if variant.drop_rank:
            frame = frame.assign(retrieval_rank=np.nan)
        if key not in self.fitted:
            self.fitted[key] = fit_calibrated_ranker(frame, RankerConfig(objective=variant.objective), self.popular)
        fitted = self.fitted[key]
        service = ranker_service_name(EMBEDDING_VERSION)
        settings = self.settings
        bundle = make_bundle(fitted, settings.embeddings_dir, EMBEDDING_VERSION, self.split, service, self.catalog)
        if variant.calibrated_order:
            bundle = dataclasses.replace(
                bundle, ranker=CalibratedOrder(bundle.ranker, fitted.calibrator), calibrator=None
            )
        return bundle, len(frame)

    def ndcg(self, lists: np.ndarray) -> np.ndarray:
        return per_user_metrics(lists, *self.relevance)["ndcg"]

    def run(self, variant: Variant) -> tuple[Result, dict[str, np.ndarray]]:
        began = time.perf_counter()
        bundle, rows = self.bundle(variant)
        served = served_lists(
            self.store, bundle, self.data.truth.users, self.data.as_of, self.catalog, variant.popular_pool
        )
        result = Result(variant.label, self.ndcg(served.lists["sasrec_ranker"]), rows, time.perf_counter() - began)
        return result, served.lists


def row(result: Result, baseline: np.ndarray | None, warm: np.ndarray | None) -> dict:
    """NDCG (all, warm), and the delta against ``baseline`` with its paired bootstrap 95% CI."""
    a = result.ndcg
    delta = low = high = None
    if baseline is not None:
        delta = round(float(a.mean() - baseline.mean()), 4)
        low, high = (round(v, 4) for v in paired_bootstrap(lambda s: a[s].mean() - baseline[s].mean(), len(a)))
    return {
        "ndcg": round(float(a.mean()), 4),
        "ndcg_warm": round(float(a[warm].mean()), 4) if warm is not None and warm.any() else None,
        "delta": delta,
        "ci_low": low,
        "ci_high": high,
        "rows": result.rows,
        "seconds": None if result.seconds is None else round(result.seconds, 1),
    }


def print_table(dataset: str, users: int, warm_users: int | None, lines: dict[str, dict]) -> None:
    warm = "unknown" if warm_users is None else f"{warm_users:,}"
    print(f"\n{dataset}: {users:,} holdout users ({warm} warm), NDCG@10 of the served lists")
    header = f"{'model':30} {'NDCG@10':>8} {'warm':>8} {'delta':>8} {'95% CI':>19} {'rows':>9} {'s':>6}"
    print(header)
    print("-" * len(header))
    for label, line in lines.items():
        warm_ndcg = "-" if line["ndcg_warm"] is None else f"{line['ndcg_warm']:.4f}"
        if line["delta"] is None:
            delta, ci = "", ""
        else:
            delta, ci = f"{line['delta']:+.4f}", f"[{line['ci_low']:+.4f}, {line['ci_high']:+.4f}]"
        rows = "" if line["rows"] is None else f"{line['rows']:,}"
        seconds = "" if line["seconds"] is None else f"{line['seconds']:.0f}"
        print(f"{label:30} {line['ndcg']:>8.4f} {warm_ndcg:>8} {delta:>8} {ci:>19} {rows:>9} {seconds:>6}")


def benchmark(dataset: str, home: Path | None, quick: bool, temporary: list[Path]) -> dict:
    """Build (unless ``home``), run every variant, print the table; the dataset's JSON record."""
    build_s = 0.0
    if home is None:
        home = Path(tempfile.mkdtemp(prefix=f"relay-two-stage-{dataset}-"))
        temporary.append(home)
        print(f"{dataset}: building {home} ...", flush=True)
        build_s = build_home(dataset, home, quick)
    else:
        print(f"{dataset}: reusing {home}", flush=True)
    began = time.perf_counter()
    bench = Bench(home)
    results, lists = {}, {}
    for variant in VARIANTS:
        results[variant.key], lists = bench.run(variant)
        print(f"  {variant.label}: {results[variant.key].seconds:.0f}s", flush=True)
    variants_s = time.perf_counter() - began
    sasrec = bench.ndcg(lists["sasrec"])
    warm = bench.data.truth.warm
    baselines = {"popularity": Result("popularity", bench.ndcg(lists["popularity"]))}
    lines = {name: row(result, sasrec, warm) for name, result in baselines.items()}
    lines["SASRec alone"] = row(Result("SASRec alone", sasrec), None, warm)
    lines |= {VARIANTS[i].label: row(result, sasrec, warm) for i, result in enumerate(results.values())}
    users = len(sasrec)
    print_table(dataset, users, None if warm is None else int(warm.sum()), lines)
    print(f"build {build_s:.0f}s, variants {variants_s:.0f}s")
    final = lines[VARIANTS[-1].label]
    return {
        "dataset": dataset,
        "holdout_users": users,
        "warm_users": None if warm is None else int(warm.sum()),
        "split": bench.split.as_dict(),
        "popularity_ndcg_at_10": lines["popularity"]["ndcg"],
        "sasrec_ndcg_at_10": round(float(sasrec.mean()), 4),
        "sasrec_ndcg_at_10_warm": lines["SASRec alone"]["ndcg_warm"],
        "two_stage_ndcg_at_10": final["ndcg"],
        "delta": final["delta"],
        "delta_ci_low": final["ci_low"],
        "delta_ci_high": final["ci_high"],
        "variants": {v.key: lines[v.label] for v in VARIANTS},
        "quick": quick,
        "seconds": {
            "build": round(build_s, 1),
            "variants": round(variants_s, 1),
            "total": round(build_s + variants_s, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller demo world and 3 SASRec epochs")
    parser.add_argument(
        "--datasets",
        default=None,
        help="comma-separated: demo, movielens-100k (default: both; with --quick, the demo world only, "
        "since importing MovieLens-100K and running its 215 daily partitions alone takes about 5 minutes)",
    )
    parser.add_argument("--home-demo", type=Path, help="reuse this built demo data directory")
    parser.add_argument("--home-movielens", type=Path, help="reuse this built MovieLens-100K data directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # ibis under Feast, once per lookup
    chosen = args.datasets or ("demo" if args.quick else ",".join(DATASETS))
    datasets = [name.strip() for name in chosen.split(",") if name.strip()]
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {list(DATASETS)}")
    homes = {"demo": args.home_demo, "movielens-100k": args.home_movielens}
    temporary: list[Path] = []
    records = []
    began = time.perf_counter()
    try:
        for dataset in datasets:
            records.append(benchmark(dataset, homes[dataset], args.quick, temporary))
    finally:
        for home in temporary:
            if args.keep:
                print(f"kept {home}")
            else:
                shutil.rmtree(home, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - began:.0f}s")
    for record in records:
        print(json.dumps(record))


if __name__ == "__main__":
    main()
