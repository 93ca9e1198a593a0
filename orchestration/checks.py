"""Asset checks: the contract and one statistical rule per check on ``clean_events``, and the
contracts of the stored feature tables. All are partitioned and blocking (training depends on
them); each also persists its per-partition result so the block holds across runs."""

import warnings

import dagster as dg

from feature_repo.tables import FEATURE_TABLES, USER_FEATURES
from orchestration.assets.online_record import build_online_record_check
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import LakeResource
from quality.all_rules import RULES
from quality.contract_checks import check_accounting, check_feature_partitions
from quality.feature_checks import check_constant_features, check_user_window_future, check_user_window_totals
from quality.partition_gate import INGEST_ASSET
from quality.rule_result import RuleResult


def _to_check_result(results: list[tuple[str, RuleResult]]) -> dg.AssetCheckResult:
    failures = [(day, r) for day, r in results if not r.passed]
    metadata: dict[str, dg.MetadataValue] = {
        "partitions": dg.MetadataValue.int(len(results)),
        "failed_partitions": dg.MetadataValue.text(", ".join(d for d, _ in failures) or "none"),
    }
    if len(results) == 1:  # one day: show its numbers as first-class metadata
        for key, value in results[0][1].metrics.items():
            metadata[key] = (
                dg.MetadataValue.float(float(value))
                if isinstance(value, int | float)
                else dg.MetadataValue.text(str(value))
            )
    else:
        metadata["per_partition"] = dg.MetadataValue.json(
            {d: r.metrics for d, r in results if not r.passed} or {"all": "passed"}
        )
    if failures:
        metadata["columns"] = dg.MetadataValue.text(
            ", ".join(sorted({r.column for _, r in failures if r.column})) or "n/a"
        )
    description = (
        "; ".join(r.description for _, r in failures)
        if failures
        else results[-1][1].description
        if results
        else "no partitions"
    )
    return dg.AssetCheckResult(
        passed=not failures, severity=dg.AssetCheckSeverity.ERROR, description=description, metadata=metadata
    )


def _contract_check(partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=INGEST_ASSET,
        name="check_contract",
        partitions_def=partitions_def,
        blocking=True,
        description="The RawLogs contract accepted the partition and rows landed = clean + quarantined + duplicates, "
        "recounted from the stored tables.",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        return _to_check_result(check_accounting(lake.settings(), partition_days(context)))

    return _check


def _rule_check(rule: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    function, _ = RULES[rule]

    @dg.asset_check(
        asset=INGEST_ASSET,
        name=f"check_{rule}",
        partitions_def=partitions_def,
        blocking=True,
        description=(function.__doc__ or rule).strip().splitlines()[0],
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        from quality.run_checks import run_rule

        return _to_check_result(run_rule(lake.settings(), rule, partition_days(context)))

    return _check


def _feature_check(table: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=table,
        name=f"check_{table}_contract",
        partitions_def=partitions_def,
        blocking=True,
        description=f"The stored {table} partitions satisfy their pandera contract (types, ranges, unique keys).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        return _to_check_result(check_feature_partitions(lake.settings(), table, partition_days(context)))

    return _check


def _constant_features_check(table: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=table,
        name=f"check_{table}_constant_features",
        partitions_def=partitions_def,
        blocking=True,
        description=f"No {table} feature is constant for every entity after varying in each previous partition.",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        return _to_check_result(check_constant_features(lake.settings(), table, partition_days(context)))

    return _check


def _user_window_check(name: str, check, description: str, partitions_def) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=USER_FEATURES,
        name=f"check_{USER_FEATURES}_{name}",
        partitions_def=partitions_def,
        blocking=True,
        description=description,
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        return _to_check_result(check(lake.settings(), partition_days(context)))

    return _check


def build_checks(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Every check over ``partitions_def``: a check's partitions are fixed when it is defined
    (Dagster has no public way to rebind them), so the definitions build their own."""
    with warnings.catch_warnings():
        # Partitioned asset checks are "preview" in Dagster 1.13; the warning would repeat on every build.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            _contract_check(partitions_def),
            *(_rule_check(rule, partitions_def) for rule in RULES),
            *(_feature_check(table, partitions_def) for table in FEATURE_TABLES),
            *(_constant_features_check(table, partitions_def) for table in FEATURE_TABLES),
            _user_window_check(
                "window_future",
                check_user_window_future,
                "No user feature row saw an event after its partition's day (the window leaks no future).",
                partitions_def,
            ),
            _user_window_check(
                "window_totals",
                check_user_window_totals,
                "The 1-day windows add up to the day's accepted impressions and clicks (not off by a day).",
                partitions_def,
            ),
            build_online_record_check(partitions_def),
        ]


# Over the stand-in partitions, for code that materializes the module-level assets directly.
all_checks = build_checks(daily_partitions)
