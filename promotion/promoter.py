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

from mlflow import MlflowClient

from core.settings import RelaySettings
from training.registry import CHAMPION, PREVIOUS, alias_version, tag_version


@dataclass(frozen=True)
class AliasMove:
    champion: int
    previous: int | None


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
    client = MlflowClient()
    with promotion_lock(settings):
        current = alias_version(name, CHAMPION)
        previous = int(current.version) if current is not None else None
        if previous == version:
            return AliasMove(
                version, int(alias_version(name, PREVIOUS).version) if alias_version(name, PREVIOUS) else None
            )
        if previous is not None:
            client.set_registered_model_alias(name, PREVIOUS, str(previous))
        client.set_registered_model_alias(name, CHAMPION, str(version))
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
    client = MlflowClient()
    with promotion_lock(settings):
        current, before = alias_version(name, CHAMPION), alias_version(name, PREVIOUS)
        if before is None or current is None:
            raise RuntimeError(f"{name} has no previous champion to roll back to")
        client.set_registered_model_alias(name, CHAMPION, before.version)
        client.set_registered_model_alias(name, PREVIOUS, current.version)
        tag_version(
            name,
            int(before.version),
            {"promotion": "rolled back to", "promotion_reason": reason, "promoted_at": datetime.now(UTC).isoformat()},
        )
    return AliasMove(int(before.version), int(current.version))
