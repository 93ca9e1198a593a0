"""Per-user online reads that survive the online store failing under load.

Measured before this guard (issue 15): with Redis stopped, a request either failed with a 500
(``redis.exceptions.ConnectionError``) or hung for seconds in redis-py's retries and backoff;
with Redis back but empty, every user silently got the popularity fallback. Now:

- the client waits at most ``online_timeout_s`` per read and never retries (``bounded_redis_url``);
- after a failed read the breaker skips the store for ``online_retry_s`` (one trial per period);
- a user read while the store fails (or after it lost its keys) comes from the last good read of
  that user, at most ``user_cache_max_age_s`` old, among the ``user_cache_entries`` most recent
  users; a user not in it gets the popularity fallback, reason ``online_store_unavailable`` or
  ``online_store_empty``;
- a user who had an embedding and reads back without one, or a user without one at all, asks
  for a probe of known keys (at most every ``probe_s``): none present means the store is empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.settings import RelaySettings
from serving.breaker import CircuitBreaker
from serving.last_good import LastGoodCache
from serving.online import UserRow
from serving.online_probe import Probe
from serving.options import ServingOptions

UNAVAILABLE, EMPTY = "online_store_unavailable", "online_store_empty"
ONLINE, CACHE = "online", "cache"


class OnlineStoreUnavailable(Exception):
    """No fresh read and no cached one: the request falls back to the popular list."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bounded_redis_url(settings: RelaySettings, options: ServingOptions) -> RelaySettings:
    """Settings whose Redis connection string bounds every wait: socket and connect timeouts of
    ``online_timeout_s`` and no client retries (redis-py's default retries 3 times with up to 10 s
    of backoff). Feast's Redis store passes ``key=value`` items of the string to ``redis.Redis``;
    items already in ``RELAY_REDIS_URL`` win. Only serving's store uses it, not the pipeline's."""
    parts = [part for part in settings.redis_url.split(",") if part]
    given = {part.split("=", 1)[0] for part in parts if "=" in part}
    wanted = {
        "socket_timeout": str(options.online_timeout_s),
        "socket_connect_timeout": str(options.online_timeout_s),
        "retry": "null",  # JSON null: redis-py then makes no retry
    }
    parts += [f"{key}={value}" for key, value in wanted.items() if key not in given]
    return settings.model_copy(update={"redis_url": ",".join(parts)})


@dataclass
class CachedUser:
    row: UserRow
    categories: dict[int, np.ndarray] = field(default_factory=dict)  # user x category rows read since


@dataclass
class ReadLog:
    """What one request's online reads met: where they were answered from, and the errors."""

    sources: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    store_empty: bool = False

    @property
    def source(self) -> str | None:
        """``cache`` when any read came from the last-good cache, ``online`` when all were fresh."""
        return CACHE if CACHE in self.sources else (ONLINE if self.sources else None)


class OnlineGuard:
    """The breaker, the last-good cache and the empty-store verdict of one serving model's reads."""

    def __init__(
        self, options: ServingOptions, probe: Callable[[], Probe], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.breaker = CircuitBreaker(options.online_retry_s, clock)
        self.cache: LastGoodCache[int, CachedUser] = LastGoodCache(
            options.user_cache_entries, options.user_cache_max_age_s, clock
        )
        self.probe_s, self.clock, self._probe = options.probe_s, clock, probe
        self.last_probe: Probe | None = None
        self._probed_at = -float("inf")
        self._probing = threading.Lock()

    # -- health ------------------------------------------------------------------------
    def status(self) -> tuple[str, str | None]:
        """``("ok", None)`` or ``("degraded", reason)``; cheap (no read)."""
        if self.breaker.is_open:
            return "degraded", UNAVAILABLE
        if self.last_probe is not None and self.last_probe.state == "empty":
            return "degraded", EMPTY
        return "ok", None

    def check(self, force: bool = False) -> tuple[str, str | None]:
        """The status after a probe if the last one is older than ``probe_s`` (or ``force``) and the
        breaker lets a read through: this is how an idle server notices recovery, and emptiness."""
        stale = self.clock() - self._probed_at >= self.probe_s
        if (force or stale) and self.breaker.allow():
            self.probe()
        return self.status()

    def probe(self) -> Probe | None:
        """Read known keys now (one caller at a time; None if another is probing)."""
        if not self._probing.acquire(blocking=False):
            return None
        try:
            result = self._probe()
            self._probed_at = self.clock()
            if result.state == "unavailable":
                self.breaker.failure(ConnectionError(result.error))
            else:
                self.breaker.success()
            self.last_probe = result
            return result
        finally:
            self._probing.release()

    def _store_empty(self) -> bool:
        """Probe if due (a read came back without an embedding); is the store known to be empty?"""
        if self.clock() - self._probed_at >= self.probe_s:
            self.probe()
        return self.last_probe is not None and self.last_probe.state == "empty"

    # -- reads -------------------------------------------------------------------------
    def _fresh(self, fetch: Callable[[], object], reads: ReadLog) -> tuple[bool, object]:
        """(True, value) from the store, or (False, None) when the breaker is open or the read fails."""
        if not self.breaker.allow():
            return False, None
        try:
            value = fetch()
        except Exception as error:  # any client error: the store cannot be read, whatever its kind
            self.breaker.failure(error)
            reads.errors.append(type(error).__name__)
            return False, None
        self.breaker.success()
        return True, value

    def user(self, user_id: int, fetch: Callable[[int], UserRow], reads: ReadLog) -> UserRow:
        """The user's row, fresh or the last good one; raises ``OnlineStoreUnavailable`` when neither."""
        ok, row = self._fresh(lambda: fetch(user_id), reads)
        cached = self.cache.get(user_id)
        if ok:
            if row.vector is not None:
                if self.last_probe is not None and self.last_probe.state == "empty":
                    self.last_probe = None  # users read back with embeddings: the store was restored
                self.cache.put(user_id, CachedUser(row, cached.categories if cached is not None else {}))
                reads.sources.add(ONLINE)
                return row
            if not self._store_empty():
                reads.sources.add(ONLINE)
                return row  # a user without an embedding yet (the fallback says no_user_embedding)
            reads.store_empty = True  # the row is missing because the store lost its keys
        if cached is None:
            if reads.store_empty:
                raise OnlineStoreUnavailable(EMPTY)
            raise OnlineStoreUnavailable(UNAVAILABLE)
        reads.sources.add(CACHE)
        return cached.row

    def categories(
        self,
        user_id: int,
        distinct: np.ndarray,
        fetch: Callable[[], np.ndarray],
        absent: Callable[[int], np.ndarray],
        reads: ReadLog,
    ) -> np.ndarray:
        """User x category rows for the sorted ``distinct`` categories. From the cache when the store
        fails or is empty: categories the user was not read with get the absent-entity fills."""
        cached = self.cache.get(user_id)
        if not reads.store_empty:
            ok, values = self._fresh(fetch, reads)
            if ok:
                if cached is not None:
                    cached.categories.update(zip(distinct.tolist(), values, strict=True))
                return values
        if cached is None:
            raise OnlineStoreUnavailable(EMPTY if reads.store_empty else UNAVAILABLE)
        reads.sources.add(CACHE)
        fills = absent(len(distinct))
        return np.stack([cached.categories.get(int(c), fills[i]) for i, c in enumerate(distinct)])
