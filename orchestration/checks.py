"""Asset checks: the contract and one statistical rule per check on ``clean_events``, and the
contracts of the stored feature tables. All are partitioned and blocking (training depends on
them); each also persists its per-partition result so the block holds across runs."""

import warnings

import dagster as dg

from feature_repo.tables import FEATURE_TABLES
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import LakeResource
from quality.contract_checks import check_accounting, check_feature_partitions
from quality.rules import RULES, RuleResult

INGEST = "clean_events"
# Partitioned asset checks are "preview" in Dagster 1.13; the warning would repeat on every load.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


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


@dg.asset_check(
    asset=INGEST,
    partitions_def=daily_partitions,
    blocking=True,
    description="The RawLogs contract accepted the partition and rows landed = clean + quarantined + duplicates, "
    "recounted from the stored tables.",
)
def check_contract(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    return _to_check_result(check_accounting(lake.settings(), partition_days(context)))


def _rule_check(rule: str) -> dg.AssetChecksDefinition:
    function, _ = RULES[rule]

    @dg.asset_check(
        asset=INGEST,
        name=f"check_{rule}",
        partitions_def=daily_partitions,
        blocking=True,
        description=(function.__doc__ or rule).strip().splitlines()[0],
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        from quality.run_checks import run_rule

        return _to_check_result(run_rule(lake.settings(), rule, partition_days(context)))

    return _check


rule_checks = [_rule_check(rule) for rule in RULES]


def _feature_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=table,
        name=f"check_{table}_contract",
        partitions_def=daily_partitions,
        blocking=True,
        description=f"The stored {table} partitions satisfy their pandera contract (types, ranges, unique keys).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        return _to_check_result(check_feature_partitions(lake.settings(), table, partition_days(context)))

    return _check


feature_checks = [_feature_check(table) for table in FEATURE_TABLES]
all_checks = [check_contract, *rule_checks, *feature_checks]
