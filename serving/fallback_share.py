"""The share of the last N answers served by a fallback (``relay_fallback_share`` in /metrics).

A few fallbacks are normal (new users); a share near 1 means the personalised path is not
serving at all, whatever the cause: the signal to alert on, next to /healthz's reason.
"""

from __future__ import annotations

import threading
from collections import deque


class FallbackShare:
    def __init__(self, size: int) -> None:
        self._window: deque[bool] = deque(maxlen=size)
        self._fallbacks = 0
        self._lock = threading.Lock()

    def add(self, fell_back: bool) -> float:
        """Record one answer; returns the share over the window now."""
        with self._lock:
            if len(self._window) == self._window.maxlen:
                self._fallbacks -= self._window[0]
            self._window.append(fell_back)
            self._fallbacks += fell_back
            return self._fallbacks / len(self._window)
