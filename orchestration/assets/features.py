"""Feature stage: DuckDB SQL builds daily feature tables; Feast registers and serves them."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from feature_repo.build import compute_feature_table, count_feature_rows, write_feature_partitions
from feature_repo.store import apply_repo
from feature_repo.tables import ITEM_FEATURES, USER_FEATURES
from orchestration.contracts import ItemFeatures, UserFeatures
from orchestration.metadata import preview
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import FeastResource, LakeResource

CONTRACTS = {USER_FEATURES: UserFeatures, ITEM_FEATURES: ItemFeatures}


def _build(context: dg.AssetExecutionContext, lake: LakeResource, table: str) -> dg.MaterializeResult:
    days = partition_days(context)
    with lake.connect() as con:
        frame = compute_feature_table(con, table, days[0], days[-1])
    CONTRACTS[table].validate(frame, lazy=True)
    rows = write_feature_partitions(lake.settings().features_dir, table, frame, days)
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "days": len(days),
            "entities_last_day": rows[days[-1]],
            "preview": preview(frame),
        }
    )


@dg.asset(
    deps=["clean_events"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="features",
)
def user_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """User windows (7 and 30 days) as of each day's end, validated by the UserFeatures contract."""
    return _build(context, lake, USER_FEATURES)


@dg.asset(
    deps=["clean_events"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="features",
)
def item_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Item windows (7 and 30 days) as of each day's end, validated by the ItemFeatures contract."""
    return _build(context, lake, ITEM_FEATURES)


@dg.asset(group_name="features")
def feature_registry(feast: FeastResource) -> dg.MaterializeResult:
    """``feast apply`` through the Python API: entities, views and versioned services."""
    names = apply_repo(feast.store(), feast.settings())
    return dg.MaterializeResult(metadata={"objects": dg.MetadataValue.json(names)})


@dg.asset(
    deps=[user_features, item_features, feature_registry],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="features",
)
def online_features(context: dg.AssetExecutionContext, feast: FeastResource) -> dg.MaterializeResult:
    """Load the partition window's feature rows into the online store."""
    start, end = context.partition_time_window
    # Rows of day D are stamped at D+1 00:00, so the window shifts by one day.
    window_start = start.astimezone(UTC) + timedelta(days=1)
    window_end = end.astimezone(UTC) + timedelta(days=1)
    store = feast.store()
    began = datetime.now(UTC)
    store.materialize(start_date=window_start, end_date=window_end, feature_views=[USER_FEATURES, ITEM_FEATURES])
    rows = count_feature_rows(feast.settings().features_dir, partition_days(context))
    return dg.MaterializeResult(
        metadata={
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            **{f"{table}_rows": count for table, count in rows.items()},
            "seconds": (datetime.now(UTC) - began).total_seconds(),
        }
    )
