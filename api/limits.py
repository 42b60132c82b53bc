"""A per-key rate limit: a token bucket that refills at the configured requests per minute."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Allows `per_minute` requests a minute per key, in bursts of up to as many."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> int:
        """Take one request for `key`: 0 when allowed, else the whole seconds until one is."""
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))
