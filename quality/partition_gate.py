"""Which partitions are blocked, and why: the cross-run half of blocking checks.

Dagster's ``blocking=True`` stops downstream steps only inside the run whose check failed.
Every downstream asset also asks this gate, so a blocked partition stays blocked in later
runs, under schedules and under automation, until it is repaired or explicitly overridden.
"""

from __future__ import annotations

from core import lake
from core.settings import RelaySettings
from feature_repo.tables import WINDOWS

INGEST_ASSET = "clean_events"


class PartitionBlocked(RuntimeError):
    """Raised by an asset asked to build on a blocked partition."""


def blocked_partitions(
    settings: RelaySettings, days: list[str], assets: tuple[str, ...] = (INGEST_ASSET,)
) -> dict[str, list[str]]:
    """day -> reasons, for the given days that a blocking check (or the contract) stopped."""
    if not days:
        return {}
    reasons: dict[str, list[str]] = {}
    with lake.connect(settings) as con:
        if INGEST_ASSET in assets:
            rows = con.execute(
                "SELECT date, accepted, reason FROM partition_status WHERE NOT usable AND list_contains($days, date)",
                {"days": days},
            ).fetchall()
            for day, accepted, reason in rows:
                if not accepted:
                    reasons.setdefault(day, []).append(f"check_contract: {reason}")
        failed = con.execute(
            "SELECT f.date, f.asset, f.check_name, f.description FROM failed_checks f "
            "LEFT JOIN (SELECT DISTINCT date FROM overrides) o USING (date) "
            "WHERE list_contains($days, f.date) AND list_contains($assets, f.asset) "
            "AND NOT (f.asset = $ingest AND o.date IS NOT NULL) ORDER BY f.date, f.check_name",
            {"days": days, "assets": list(assets), "ingest": INGEST_ASSET},
        ).fetchall()
    for day, asset, check, description in failed:
        reasons.setdefault(day, []).append(f"{asset}.{check}: {description}")
    return dict(sorted(reasons.items()))


def ensure_usable(
    settings: RelaySettings, days: list[str], what: str, assets: tuple[str, ...] = (INGEST_ASSET,)
) -> None:
    """Raise ``PartitionBlocked`` naming every blocked partition and the checks that blocked it."""
    blocked = blocked_partitions(settings, days, assets)
    if blocked:
        lines = [f"  {day}: " + " | ".join(why) for day, why in blocked.items()]
        first = next(iter(blocked))
        raise PartitionBlocked(
            f"{what} refused: {len(blocked)} blocked partition(s)\n" + "\n".join(lines) + "\n"
            f"Repair the landing file and run `relay repair {first}`, or accept it explicitly with "
            f"`relay repair {first} --accept --reason ... --by ...`."
        )


def ingested_days(settings: RelaySettings) -> list[str]:
    with lake.connect(settings) as con:
        return [row[0] for row in con.execute("SELECT date FROM accounting ORDER BY date").fetchall()]


def window_gaps(settings: RelaySettings, days: list[str], window_days: int = max(WINDOWS)) -> list[str]:
    """Blocked partitions inside the feature windows ending on ``days`` (their events are missing)."""
    from datetime import date, timedelta

    first = (date.fromisoformat(days[0]) - timedelta(days=window_days - 1)).isoformat()
    with lake.connect(settings) as con:
        rows = con.execute(
            "SELECT date FROM partition_status WHERE NOT usable AND date BETWEEN $first AND $last ORDER BY date",
            {"first": first, "last": days[-1]},
        ).fetchall()
    return [row[0] for row in rows]
