"""Turn the quality gate's refusals into Dagster failures with readable descriptions."""

import dagster as dg

from core.settings import RelaySettings
from feature_repo.tables import FEATURE_TABLES
from quality.partition_gate import INGEST_ASSET, PartitionBlocked, ensure_usable

FEATURE_ASSETS = FEATURE_TABLES
# Downstream assets wait for upstream blocking checks under declarative automation too.
GATED_AUTOMATION = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


def require_usable(
    settings: RelaySettings, days: list[str], what: str, assets: tuple[str, ...] = (INGEST_ASSET,)
) -> None:
    try:
        ensure_usable(settings, days, what, assets)
    except PartitionBlocked as blocked:
        raise dg.Failure(description=str(blocked), allow_retries=False) from blocked
