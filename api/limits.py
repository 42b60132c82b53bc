"""A per-key rate limit: a token bucket that refills at the configured requests per minute.

It also tells a refusal that follows another refusal (a burst hammering a full bucket) from the
first, so that a burst costs the access log one row, not one per request."""

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
        self._refusing: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> tuple[int, bool]:
        """Take one request for `key`: (0, False) when allowed, else the whole seconds until one is, and
        whether the refusal before it was `key`'s too (no request allowed in between)."""
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                self._refusing.discard(key)
                return 0, False
            self._buckets[key] = (tokens, now)
            repeated = key in self._refusing
            self._refusing.add(key)
            return max(1, math.ceil((1 - tokens) / self.rate)), repeated
