"""The last good online read per key, bounded in entries (least recently used go first) and in age.

Serving answers from it while the online store is down or has lost its keys; the bounds keep the
memory fixed and the staleness stated (``ServingOptions.user_cache_entries``/``user_cache_max_age_s``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LastGoodCache(Generic[K, V]):
    def __init__(self, max_entries: int, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries, self.max_age_s, self.clock = max_entries, max_age_s, clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` as read now; evicts the least recently used beyond ``max_entries``."""
        if self.max_entries == 0:
            return
        with self._lock:
            self._entries[key] = (self.clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get(self, key: K) -> V | None:
        """The value if it was read at most ``max_age_s`` ago (an older one is dropped), else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            read_at, value = entry
            if self.clock() - read_at > self.max_age_s:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value
