"""A circuit breaker for the online store: after a failed read, skip the store for ``open_s``.

Without it every request under an outage pays the client's timeout before it falls back; with
it one request per ``open_s`` does (the trial), and the rest answer at once from the cache or
the fallback. A successful trial closes the breaker, so serving recovers by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed (reads go to the store) or open until ``reopen_at`` (they do not)."""

    def __init__(self, open_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.open_s, self.clock = open_s, clock
        self.failures = 0  # consecutive failed reads; 0 when closed
        self.last_error: str | None = None
        self._reopen_at = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """The last read failed and no read has succeeded since."""
        return self.failures > 0

    def allow(self) -> bool:
        """May this read go to the store? Once open, one trial per ``open_s`` (the first caller after it)."""
        with self._lock:
            if self.failures == 0:
                return True
            now = self.clock()
            if now < self._reopen_at:
                return False
            self._reopen_at = now + self.open_s  # the others wait for this trial's outcome
            return True

    def success(self) -> None:
        with self._lock:
            self.failures, self.last_error = 0, None

    def failure(self, error: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = f"{type(error).__name__}: {error}"
            self._reopen_at = self.clock() + self.open_s
