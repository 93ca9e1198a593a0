"""Backfill benchmark: years of history through Dagster, then a training set of >= 1M rows.

    python benchmarks/backfill.py            # 730 days, sized for ~10 minutes on 2 cores
    python benchmarks/backfill.py --quick    # 120 days, about a minute

Steps, each timed: simulate the world; ingest every partition with its contract and
statistical checks (one single-run Dagster backfill); compute all feature tables (another);
load the online store; write embedding tables; then build a ranker training set by
point-in-time retrieval, Relay's way (``historical_features``, the ASOF path generated from
the Feast definitions) and as the practical floor: one hand-written DuckDB ASOF JOIN over the
same parquet files producing the same rows. Feast's own ``get_historical_features`` is timed
on a sample for context. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import torch

from orchestration.partitions import partition_range_tags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from feature_repo.tables import (
    FEATURE_TABLES,
    RANKER_FEATURES,
    SPECS,
    TABLE_KEYS,
    embedding_dir,
    table_glob,
)
from features.build import count_feature_rows
from features.feast_store import apply_repo, open_store
from features.online_load import ONLINE_DAYS
from features.retrieval import historical_features, with_categories
from orchestration.checks import all_checks
from orchestration.definitions import all_assets
from orchestration.resources import build_resources
from simulator.simulate import simulate
from simulator.world import WorldConfig
from training.sasrec.data import Vocabulary
from training.sasrec.embedding_tables import write_embedding_tables
from training.sasrec.model import SASRec, SASRecConfig

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
VERSION = 1


def run(settings: RelaySettings, keys: list[str], first: str, last: str, checks: bool = True) -> float:
    """One single-run Dagster backfill of the selected assets over [first, last]; seconds."""
    assets = [a for a in all_assets if a.key.to_user_string() in keys]
    selected = [c for c in all_checks if next(iter(c.check_keys)).asset_key.to_user_string() in keys] if checks else []
    began = time.perf_counter()
    result = dg.materialize(
        [*assets, *selected],
        resources=build_resources(settings),
        instance=dg.DagsterInstance.ephemeral(),
        tags=partition_range_tags(first, last),
        run_config=QUIET,
    )
    if not result.success:
        raise RuntimeError(f"backfill of {keys} failed")
    return time.perf_counter() - began


def floor_sql(settings: RelaySettings) -> str:
    """The hand-written floor: ASOF JOINs straight over the parquet files, fills, recency and the
    SASRec dot product in one DuckDB query, producing the same rows as Relay's build."""
    joins, selects = [], []
    for index, table in enumerate(FEATURE_TABLES):
        keys = TABLE_KEYS[table]
        alias = f"t{index}"
        on = " AND ".join([*(f"e.{k} = {alias}.{k}" for k in keys), f"e.event_timestamp >= {alias}.ts"])
        columns = [s.name for s in SPECS.values() if s.table == table]
        joins.append(
            f"ASOF LEFT JOIN (SELECT {', '.join(keys)}, CAST(event_timestamp AS TIMESTAMPTZ) AS ts, "
            f"{', '.join(columns)} FROM read_parquet('{table_glob(settings.features_dir, table)}')) {alias} ON {on}"
        )
        for name in columns:
            fresh = f"e.event_timestamp - {alias}.ts <= INTERVAL 1 DAY"
            value = f"CASE WHEN {fresh} THEN CAST({alias}.{name} AS DOUBLE) END"
            fill = SPECS[name].fill
            selects.append(f"{value if fill is None else f'coalesce({value}, {fill})'} AS {name}")
    directory = embedding_dir(settings.embeddings_dir, VERSION)
    joins.append(
        f"ASOF LEFT JOIN (SELECT user_id, CAST(event_timestamp AS TIMESTAMPTZ) AS ts, user_embedding "
        f"FROM read_parquet('{directory / 'user_embeddings.parquet'}')) ue "
        "ON e.user_id = ue.user_id AND e.event_timestamp >= ue.ts"
    )
    joins.append(
        f"ASOF LEFT JOIN (SELECT item_id, CAST(event_timestamp AS TIMESTAMPTZ) AS ts, item_embedding "
        f"FROM read_parquet('{directory / 'item_embeddings.parquet'}')) ie "
        "ON e.item_id = ie.item_id AND e.event_timestamp >= ie.ts"
    )
    selects.append(
        "CASE WHEN user_last_event_ts IS NOT NULL THEN greatest(epoch(e.event_timestamp) - user_last_event_ts, 0) "
        "END AS user_recency_s"
    )
    selects.append("list_dot_product(ue.user_embedding, ie.item_embedding) AS sasrec_score")
    return f"SELECT e.*, {', '.join(selects)} FROM entities e {' '.join(joins)} ORDER BY e._row"


def floor_build(settings: RelaySettings, entities: pd.DataFrame) -> pd.DataFrame:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("entity_rows", entities.assign(_row=np.arange(len(entities))))
    con.execute(
        "CREATE VIEW entities AS SELECT * REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp) "
        "FROM entity_rows"
    )
    return con.execute(floor_sql(settings)).df()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--min-rows", type=int, default=1_000_000, help="training-set rows to build at least")
    parser.add_argument("--quick", action="store_true", help="120 days, 600 users, 300 items, 200k rows")
    parser.add_argument("--home", type=Path, default=None, help="data directory (default: a temporary one)")
    args = parser.parse_args()
    if args.quick:
        args.days, args.users, args.items, args.min_rows = 120, 600, 300, 200_000

    home = args.home or Path(tempfile.mkdtemp(prefix="relay-backfill-"))
    settings = RelaySettings(home=home / "var")
    settings.ensure_dirs()
    world = WorldConfig(n_users=args.users, n_items=args.items, n_days=args.days, seed=7)
    first, last = world.start_date, (world.start + timedelta(days=args.days - 1)).isoformat()
    steps: list[tuple[str, int, float]] = []

    began = time.perf_counter()
    summary = simulate(world, settings.landing_dir, settings.world_dir, progress=False)
    steps.append(("simulate world", summary.events, time.perf_counter() - began))
    steps.append(
        (
            "ingest + contract + 12 checks (Dagster)",
            summary.events,
            run(settings, ["clean_events", "item_catalog"], first, last),
        )
    )
    feature_seconds = run(
        settings, ["user_features", "item_features", "user_category_features", "feature_registry"], first, last
    )
    feature_rows = sum(int(pq_rows(settings, t)) for t in FEATURE_TABLES)
    steps.append(("feature tables, 3 families (Dagster)", feature_rows, feature_seconds))
    online_s = run(settings, ["online_features"], first, last, checks=False)
    recent = [(world.start + timedelta(days=d)).isoformat() for d in range(max(0, args.days - ONLINE_DAYS), args.days)]
    loaded = sum(count_feature_rows(settings.features_dir, recent).values())
    steps.append((f"online store load, last {ONLINE_DAYS} days (Dagster)", loaded, online_s))

    with lake.connect(settings) as con:
        events = read_events(con)
    began = time.perf_counter()
    torch.manual_seed(0)
    vocabulary = Vocabulary.from_items(events["item_id"].to_numpy())
    model = SASRec(SASRecConfig(n_items=len(vocabulary), dim=16, n_blocks=1, dropout=0.0)).eval()
    clicks = events[events["event_type"] == "click"]
    tables = write_embedding_tables(settings, model, vocabulary, clicks, VERSION, pd.Timestamp(first, tz="UTC"))
    store = open_store(settings)
    apply_repo(store, settings)
    steps.append(("embedding tables (as-of-day users)", tables.user_rows, time.perf_counter() - began))

    impressions = events[events["event_type"] == "impression"].sort_values("ts", ascending=False).head(args.min_rows)
    entities = (
        impressions[["user_id", "item_id", "ts"]].rename(columns={"ts": "event_timestamp"}).reset_index(drop=True)
    )
    catalog = lake.read_catalog(settings)

    began = time.perf_counter()
    relay_frame = historical_features(store, entities, VERSION, catalog, method="asof")
    relay_s = time.perf_counter() - began
    steps.append(("training set: Relay (ASOF path from Feast defs)", len(relay_frame), relay_s))

    began = time.perf_counter()
    floor = floor_build(settings, with_categories(entities, catalog))
    asof_s = time.perf_counter() - began
    steps.append(("training set: plain DuckDB ASOF JOIN (floor)", len(floor), asof_s))

    sample = entities.sample(n=min(50_000, len(entities)), random_state=0)
    began = time.perf_counter()
    feast_frame = historical_features(store, sample, VERSION, catalog, method="feast")
    steps.append(("training set sample: Feast get_historical_features", len(feast_frame), time.perf_counter() - began))

    columns = list(RANKER_FEATURES)
    differing = [
        c
        for c in columns
        if not np.allclose(
            relay_frame[c].to_numpy(float), floor[c].to_numpy(float), equal_nan=True, rtol=1e-5, atol=1e-6
        )
    ]
    same = not differing
    if differing:
        raise SystemExit(f"Relay's training set differs from the floor's in {differing}: unequal work compared")

    print(
        f"\nbackfill benchmark: {args.days} days, {args.users} users, {args.items} items, "
        f"{summary.events:,} events, training set {len(relay_frame):,} rows x {len(columns)} features\n"
    )
    print(f"{'step':<52} {'rows':>12} {'seconds':>9} {'rows/s':>12}")
    for name, rows, seconds in steps:
        print(f"{name:<52} {rows:>12,} {seconds:>9.2f} {rows / seconds:>12,.0f}")
    figures = {
        "days": args.days,
        "events": summary.events,
        "feature_rows": feature_rows,
        "training_rows": len(relay_frame),
        "relay_build_s": round(relay_s, 3),
        "asof_build_s": round(asof_s, 3),
        "ratio": round(relay_s / asof_s, 3),
        "feast_rows_per_s": round(steps[-1][1] / steps[-1][2]),
        "identical": bool(same),
    }
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(figures))


def pq_rows(settings: RelaySettings, table: str) -> int:
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT count(*) FROM read_parquet('{table_glob(settings.features_dir, table)}')"
        ).fetchone()[0]


if __name__ == "__main__":
    main()
