"""One per-key log throttle: say a thing once per interval, per key, per process.

A flood repeats the same event thousands of times a second (a client
limited, a misconfigured backend, an N+1 sent to Sentry); one line per key
per interval keeps the signal and drops the noise.  The table is bounded: at
``max_keys`` distinct keys it starts again (a flood of distinct keys costs a
few repeated lines, never memory).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

__all__ = ["Throttle"]


class Throttle:
    """``due(key, interval)`` is true at most once per ``interval`` seconds per key."""

    __slots__ = ("_lock", "_next", "max_keys")

    def __init__(self, max_keys: int = 2048) -> None:
        self.max_keys = max_keys
        self._next: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def due(self, key: Hashable, interval: float) -> bool:
        now = time.monotonic()
        with self._lock:
            until = self._next.get(key)
            if until is not None and now < until:
                return False
            if len(self._next) >= self.max_keys:
                self._next.clear()
            self._next[key] = now + interval
            return True

    def clear(self) -> None:
        """Forget every key (tests, a settings reload)."""
        with self._lock:
            self._next.clear()
