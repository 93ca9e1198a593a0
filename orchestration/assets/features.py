"""Feature stage: DuckDB SQL builds daily feature tables; Feast registers and serves them."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from feature_repo.build import compute_feature_table, count_feature_rows, write_feature_partitions
from feature_repo.store import apply_repo
from feature_repo.tables import ITEM_FEATURES, USER_FEATURES
from orchestration.contracts import ItemFeatures, UserFeatures
from orchestration.gating import FEATURE_ASSETS, GATED_AUTOMATION, require_usable
from orchestration.metadata import preview
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import FeastResource, LakeResource
from relay.quality.contract_checks import check_feature_partitions
from relay.quality.gate import window_gaps

CONTRACTS = {USER_FEATURES: UserFeatures, ITEM_FEATURES: ItemFeatures}


def _build(context: dg.AssetExecutionContext, lake: LakeResource, table: str) -> dg.MaterializeResult:
    settings = lake.settings()
    days = partition_days(context)
    require_usable(settings, days, f"{table} for {days[0]}..{days[-1]}")
    with lake.connect() as con:
        frame = compute_feature_table(con, table, days[0], days[-1])
    CONTRACTS[table].validate(frame, lazy=True)
    rows = write_feature_partitions(settings.features_dir, table, frame, days)
    gaps = window_gaps(settings, days)
    if gaps:
        context.log.warning(f"{table}: windows read around blocked partitions {gaps}; their events are missing")
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "days": len(days),
            "entities_last_day": rows[days[-1]],
            "window_gaps": ", ".join(gaps) or "none",
            "preview": preview(frame),
        }
    )


@dg.asset(
    deps=["clean_events"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=GATED_AUTOMATION,
    group_name="features",
)
def user_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """User windows (7 and 30 days) as of each day's end, validated by the UserFeatures contract."""
    return _build(context, lake, USER_FEATURES)


@dg.asset(
    deps=["clean_events"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=GATED_AUTOMATION,
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
    # Rows of day D are stamped at D+1 00:00, so the window shifts by one day.
    window_start = start.astimezone(UTC) + timedelta(days=1)
    window_end = end.astimezone(UTC) + timedelta(days=1)
    began = datetime.now(UTC)
    feast.store().materialize(
        start_date=window_start, end_date=window_end, feature_views=[USER_FEATURES, ITEM_FEATURES]
    )
    rows = count_feature_rows(settings.features_dir, days)
    return dg.MaterializeResult(
        metadata={
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            **{f"{table}_rows": count for table, count in rows.items()},
            "seconds": (datetime.now(UTC) - began).total_seconds(),
        }
    )
