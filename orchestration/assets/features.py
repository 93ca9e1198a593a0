"""Feature stage: DuckDB SQL builds daily feature tables; Feast registers and serves them."""

import time
from datetime import UTC

import dagster as dg
import pandas as pd

from feature_repo.tables import ITEM_FEATURES, USER_CATEGORY_FEATURES, USER_FEATURES, WINDOWS
from features.build import compute_feature_table, write_feature_partitions
from features.feast_store import apply_repo
from features.online_load import load_online
from orchestration.metadata import preview
from orchestration.partition_gate import FEATURE_ASSETS, GATED_AUTOMATION, require_usable
from orchestration.partitions import chunked, daily_partitions, partition_days
from orchestration.resources import FeastResource, LakeResource
from quality.contract_checks import check_feature_partitions
from quality.contracts import ItemFeatures, UserCategoryFeatures, UserFeatures
from quality.partition_gate import window_gaps

CHUNK_DAYS = 31  # a month per query: bounded memory for multi-year backfills, progress per chunk
CONTRACTS = {USER_FEATURES: UserFeatures, ITEM_FEATURES: ItemFeatures, USER_CATEGORY_FEATURES: UserCategoryFeatures}


def _build(context: dg.AssetExecutionContext, lake: LakeResource, table: str) -> dg.MaterializeResult:
    """Compute a table for the run's days in chunks (one code path for a day and for years),
    validating each chunk and logging progress, so a long backfill shows how far it is."""
    settings = lake.settings()
    days = partition_days(context)
    require_usable(settings, days, f"{table} for {days[0]}..{days[-1]}")
    rows: dict[str, int] = {}
    frame = None
    began = time.perf_counter()
    with lake.connect() as con:
        for done, chunk in chunked(days, CHUNK_DAYS):
            frame = compute_feature_table(con, table, chunk[0], chunk[-1])
            CONTRACTS[table].validate(frame, lazy=True)
            rows |= write_feature_partitions(settings.features_dir, table, frame, chunk)
            if len(days) > CHUNK_DAYS:
                rate = sum(rows.values()) / max(time.perf_counter() - began, 1e-9)
                context.log.info(f"{table}: {done}/{len(days)} days, {sum(rows.values()):,} rows ({rate:,.0f} rows/s)")
    gaps = window_gaps(settings, days, window_days=max(WINDOWS))
    if gaps:
        context.log.warning(f"{table}: windows read around blocked partitions {gaps}; their events are missing")
    return dg.MaterializeResult(
        metadata={
            "rows": sum(rows.values()),
            "days": len(days),
            "seconds": round(time.perf_counter() - began, 2),
            "entities_last_day": rows[days[-1]],
            "window_gaps": ", ".join(gaps) or "none",
            "preview": preview(frame if frame is not None else pd.DataFrame()),
        }
    )


@dg.asset(
    deps=["clean_events", "item_catalog"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=GATED_AUTOMATION,
    group_name="features",
)
def user_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """User windows (7 and 30 days) as of each day's end, validated by the UserFeatures contract."""
    return _build(context, lake, USER_FEATURES)


@dg.asset(
    deps=["clean_events", "item_catalog"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=GATED_AUTOMATION,
    group_name="features",
)
def item_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Item windows (7 and 30 days) as of each day's end, validated by the ItemFeatures contract."""
    return _build(context, lake, ITEM_FEATURES)


@dg.asset(
    deps=["clean_events", "item_catalog"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=GATED_AUTOMATION,
    group_name="features",
)
def user_category_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """User x category affinity (30 days) as of each day's end, validated by UserCategoryFeatures."""
    return _build(context, lake, USER_CATEGORY_FEATURES)


@dg.asset(group_name="features")
def feature_registry(feast: FeastResource) -> dg.MaterializeResult:
    """``feast apply`` through the Python API: entities, views and versioned services."""
    names = apply_repo(feast.store(), feast.settings())
    return dg.MaterializeResult(metadata={"objects": dg.MetadataValue.json(names)})


@dg.asset(
    deps=[user_features, item_features, "user_category_features", feature_registry],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=GATED_AUTOMATION,
    group_name="features",
)
def online_features(context: dg.AssetExecutionContext, feast: FeastResource) -> dg.MaterializeResult:
    """Load the partition window's feature rows into the online store.

    It re-validates the stored feature partitions first: a table changed after its check ran
    (duplicate keys that would fan out joins, say) never reaches serving.
    """
    settings = feast.settings()
    days = partition_days(context)
    what = f"online_features for {days[0]}..{days[-1]}"
    require_usable(settings, days, what)
    for table in FEATURE_ASSETS:
        check_feature_partitions(settings, table, days)
    require_usable(settings, days, what, FEATURE_ASSETS)
    start, end = context.partition_time_window
    load = load_online(feast.store(), settings, days, start.astimezone(UTC), end.astimezone(UTC))
    return dg.MaterializeResult(
        metadata={
            "days_loaded": load.days_loaded,
            "window_start": load.window_start.isoformat(),
            "window_end": load.window_end.isoformat(),
            **{f"{table}_rows": count for table, count in load.rows.items()},
            "seconds": load.seconds,
        }
    )
