"""The online store guard on tiny inputs with a hand-driven clock: the last-good cache's bounds
(entries and age), the breaker's one trial per period, the fallback share, the Redis client's
bounded waits, and the guard's choice between a fresh read, the cache and the fallback reasons."""

import numpy as np
import pytest

from core.settings import RelaySettings
from serving.breaker import CircuitBreaker
from serving.fallback_share import FallbackShare
from serving.last_good import LastGoodCache
from serving.online import UserRow
from serving.online_guard import EMPTY, UNAVAILABLE, OnlineGuard, OnlineStoreUnavailable, ReadLog, bounded_redis_url
from serving.online_probe import Probe, needs_restore
from serving.options import ServingOptions


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_keeps_the_most_recently_used_entries():
    cache = LastGoodCache(max_entries=2, max_age_s=60, clock=Clock())
    cache.put(1, "a")
    cache.put(2, "b")
    assert cache.get(1) == "a"  # 1 is now the most recently used
    cache.put(3, "c")
    assert (cache.get(1), cache.get(2), cache.get(3), len(cache)) == ("a", None, "c", 2)


def test_the_cache_answers_up_to_its_age_bound_and_drops_older_reads():
    clock = Clock()
    cache = LastGoodCache(max_entries=10, max_age_s=30, clock=clock)
    cache.put(1, "a")
    clock.now += 30
    assert cache.get(1) == "a"  # exactly max_age_s old still answers
    clock.now += 0.5
    assert cache.get(1) is None and len(cache) == 0
    cache.put(1, "b")  # a fresh read restarts the age
    assert cache.get(1) == "b"


def test_a_cache_of_no_entries_keeps_nothing():
    cache = LastGoodCache(max_entries=0, max_age_s=30, clock=Clock())
    cache.put(1, "a")
    assert cache.get(1) is None and len(cache) == 0


def test_the_breaker_lets_one_trial_through_per_period_and_closes_on_success():
    clock = Clock()
    breaker = CircuitBreaker(open_s=2.0, clock=clock)
    assert breaker.allow() and not breaker.is_open
    breaker.failure(ConnectionError("refused"))
    assert breaker.is_open and breaker.last_error == "ConnectionError: refused"
    clock.now += 1.999
    assert not breaker.allow()
    clock.now += 0.001
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # the others wait for its outcome
    breaker.failure(TimeoutError("timed out"))
    assert breaker.failures == 2 and not breaker.allow()
    clock.now += 2
    assert breaker.allow()
    breaker.success()
    assert not breaker.is_open and breaker.last_error is None and breaker.allow() and breaker.allow()


def test_the_fallback_share_covers_the_last_answers_only():
    share = FallbackShare(size=4)
    assert [share.add(f) for f in (True, False, False, False)] == [1.0, 0.5, 1 / 3, 0.25]
    assert share.add(True) == 0.25  # the first True left the window
    assert share.add(True) == 0.5


def test_serving_bounds_every_redis_wait_and_keeps_explicit_options():
    options = ServingOptions(online_timeout_s=0.1)
    bounded = bounded_redis_url(RelaySettings(redis_url="10.0.0.5:6380,db=2"), options)
    assert bounded.redis_url == "10.0.0.5:6380,db=2,socket_timeout=0.1,socket_connect_timeout=0.1,retry=null"
    explicit = bounded_redis_url(RelaySettings(redis_url="h:1,socket_timeout=3"), options)
    assert explicit.redis_url == "h:1,socket_timeout=3,socket_connect_timeout=0.1,retry=null"


def test_only_an_empty_store_is_restored():
    assert [needs_restore(Probe(state)) for state in ("ok", "empty", "unavailable", "unknown")] == [
        False,
        True,
        False,
        False,
    ]


# -- the guard's decisions, with plain functions standing in for the store's reads ------------------
def _row(vector: bool) -> UserRow:
    return UserRow(np.array([1.0]), np.ones(2, np.float32) if vector else None, np.array([7], np.int64))


class Store:
    """What the guard reads through: a user row, category rows and the probe, switchable."""

    def __init__(self) -> None:
        self.state = "ok"  # ok | down | empty
        self.reads = 0

    def user(self, user_id: int) -> UserRow:
        self.reads += 1
        if self.state == "down":
            raise ConnectionError("refused")
        return _row(vector=self.state == "ok")

    def probe(self) -> Probe:
        if self.state == "down":
            return Probe("unavailable", 0, 2, "item_embedding_v1", "ConnectionError: refused")
        return Probe("ok" if self.state == "ok" else "empty", 2 if self.state == "ok" else 0, 2, "item_embedding_v1")


@pytest.fixture
def guarded():
    clock, store = Clock(), Store()
    options = ServingOptions(online_retry_s=2.0, user_cache_entries=10, user_cache_max_age_s=60, probe_s=5.0)
    return OnlineGuard(options, store.probe, clock), store, clock


def test_a_failing_store_is_skipped_while_cached_users_get_their_last_good_read(guarded):
    guard, store, clock = guarded
    assert guard.user(1, store.user, ReadLog()).vector is not None
    store.state = "down"
    reads = ReadLog()
    assert guard.user(1, store.user, reads).vector is not None
    assert (reads.source, reads.errors, guard.status()) == ("cache", ["ConnectionError"], ("degraded", UNAVAILABLE))
    with pytest.raises(OnlineStoreUnavailable) as unknown:
        guard.user(2, store.user, ReadLog())  # not cached: the breaker is open, so no read either
    assert unknown.value.reason == UNAVAILABLE and store.reads == 2
    clock.now += 61
    with pytest.raises(OnlineStoreUnavailable):
        guard.user(1, store.user, ReadLog())  # the cached read is now too old
    store.state = "ok"
    clock.now += 2
    assert guard.check() == ("ok", None)  # /healthz's probe is the trial that closes the breaker


def test_an_emptied_store_is_told_from_a_new_user_and_clears_once_restored(guarded):
    guard, store, _ = guarded
    guard.user(1, store.user, ReadLog())
    store.state = "empty"
    reads = ReadLog()
    assert guard.user(1, store.user, reads).vector is not None  # the probe said empty: the last good read
    assert reads.source == "cache" and reads.store_empty and guard.status() == ("degraded", EMPTY)
    with pytest.raises(OnlineStoreUnavailable) as unknown:
        guard.user(2, store.user, ReadLog())
    assert unknown.value.reason == EMPTY
    store.state = "ok"
    assert guard.user(3, store.user, ReadLog()).vector is not None and guard.status() == ("ok", None)


def test_a_user_without_an_embedding_in_a_full_store_is_read_as_such():
    store = Store()
    store.state = "empty"  # this user reads back without an embedding, but the probed items are there
    guard = OnlineGuard(ServingOptions(), lambda: Probe("ok", 2, 2, "item_embedding_v1"), Clock())
    reads = ReadLog()
    assert guard.user(9, store.user, reads).vector is None and reads.source == "online"
    assert guard.status() == ("ok", None)


def test_category_rows_come_from_the_cache_with_fills_for_categories_never_read(guarded):
    guard, store, _ = guarded
    guard.user(1, store.user, ReadLog())
    fresh = guard.categories(1, np.array([3, 5]), lambda: np.array([[0.3], [0.5]]), _absent, ReadLog())
    assert fresh.tolist() == [[0.3], [0.5]]
    store.state = "down"
    reads = ReadLog()
    assert guard.user(1, store.user, reads).vector is not None

    def fails() -> np.ndarray:
        raise AssertionError("the breaker is open: no read")

    cached = guard.categories(1, np.array([3, 4]), fails, _absent, reads)
    assert cached.tolist() == [[0.3], [-1.0]] and reads.source == "cache"


def _absent(count: int) -> np.ndarray:
    return np.full((count, 1), -1.0)
