"""The one serialized promoter: moves ``champion`` (and ``previous``) under an exclusive lock.

Two promotions that raced would both read the same old champion and both record it as
``previous``, losing the model one of them replaced. The lock makes promote and rollback
read-then-write atomic. (On the embedded profile a file lock serialises the processes of one
machine; the production profile's Postgres advisory lock serialises machines.)
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from core.settings import RelaySettings
from promotion.outcome import GateOutcome, PromotionDecision
from training.ranker.bundle import TWO_STAGE
from training.registry import CHAMPION, CONFIGURATION_TAG, PREVIOUS, alias_version, set_alias, tag_version

REASON_LIMIT = 5000  # MLflow caps a tag value at 5000 characters


@dataclass(frozen=True)
class AliasMove:
    champion: int
    previous: int | None


class PromotionRefused(RuntimeError):
    """The challenger may not become champion: the gate refused it and nobody overrode that, or
    the champion moved after the evaluation compared against it."""


@contextmanager
def promotion_lock(settings: RelaySettings, timeout_s: float = 120.0) -> Iterator[None]:
    path = settings.root / "locks" / "promotion.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another promotion has held {path} for {timeout_s}s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def promote(
    settings: RelaySettings, version: int, reason: str, extra_tags: dict[str, object] | None = None
) -> AliasMove:
    """Make ``version`` the champion; the replaced champion becomes ``previous``."""
    name = settings.ranker_model_name
    with promotion_lock(settings):
        current = alias_version(name, CHAMPION)
        previous = int(current.version) if current is not None else None
        if previous == version:
            return AliasMove(
                version, int(alias_version(name, PREVIOUS).version) if alias_version(name, PREVIOUS) else None
            )
        if previous is not None:
            set_alias(name, PREVIOUS, previous)
        set_alias(name, CHAMPION, version)
        tag_version(
            name,
            version,
            {
                "promotion": "promoted",
                "promotion_reason": reason,
                "promoted_at": datetime.now(UTC).isoformat(),
                "replaced": previous or "none",
                **(extra_tags or {}),
            },
        )
    return AliasMove(version, previous)


def rollback(settings: RelaySettings, reason: str = "manual rollback") -> AliasMove:
    """Swap ``champion`` and ``previous``: the model that served before serves again."""
    name = settings.ranker_model_name
    with promotion_lock(settings):
        current, before = alias_version(name, CHAMPION), alias_version(name, PREVIOUS)
        if before is None or current is None:
            raise RuntimeError(f"{name} has no previous champion to roll back to")
        set_alias(name, CHAMPION, before.version)
        set_alias(name, PREVIOUS, current.version)
        tag_version(
            name,
            int(before.version),
            {"promotion": "rolled back to", "promotion_reason": reason, "promoted_at": datetime.now(UTC).isoformat()},
        )
    return AliasMove(int(before.version), int(current.version))


def promote_challenger(
    settings: RelaySettings, outcome: GateOutcome, override_reason: str = "", override_by: str = ""
) -> PromotionDecision:
    """Promote the challenger the gate judged, through ``promote``.

    A refused challenger is promoted only with an override (a reason and who gave it), which is
    recorded on the version. Raises ``PromotionRefused`` when it may not be promoted, and when
    the champion has moved since the evaluation compared against it (the verdict is stale).
    """
    version, compared_with = outcome.candidate_version, outcome.champion_version
    current = alias_version(settings.ranker_model_name, CHAMPION)
    if current is not None and int(current.version) not in (compared_with, version):
        raise PromotionRefused(
            f"champion moved to v{current.version} after the evaluation compared against "
            f"{compared_with}; re-run holdout_evaluation"
        )
    extra: dict[str, object] = {}
    if not outcome.passed:
        if not (override_reason.strip() and override_by.strip()):
            raise PromotionRefused(
                f"challenger v{version} {outcome.reason}. To promote it anyway, run `champion` with "
                "override_reason and override_by."
            )
        extra = {"override_reason": override_reason, "override_by": override_by}
    overridden = bool(extra)
    # What serves: the configuration the gate chose; an overridden refusal serves the full two stages.
    extra[CONFIGURATION_TAG] = outcome.configuration or TWO_STAGE
    move = promote(settings, version, outcome.reason[:REASON_LIMIT], extra)
    return PromotionDecision(
        promoted=True,
        candidate_version=version,
        reason=outcome.reason,
        serving_version=move.champion,
        previous_version=move.previous,
        override=overridden,
    )
