"""Login throttling: after a few failed logins for a user name, or from one client, the next wait grows.

Five failures are free; then each further one locks the name (or the client) for 15 s, 30 s,
60 s, ... up to 15 minutes, during which no password is checked, not even the right one. A
successful login clears the name's and the client's count. The counts live in the app's
process, which serves every session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

FREE_FAILURES = 5
FIRST_LOCK_SECONDS = 15.0
MAX_LOCK_SECONDS = 900.0


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures, locked until)
        self._lock = threading.Lock()

    def wait_seconds(self, *keys: str) -> float:
        """How long the longest lock among `keys` still lasts (0: a login may be tried)."""
        now = self._clock()
        with self._lock:
            return max([0.0, *(self._failures.get(key, (0, 0.0))[1] - now for key in keys)])

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                count = self._failures.get(key, (0, 0.0))[0] + 1
                lock = 0.0 if count <= FREE_FAILURES else min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** (count - FREE_FAILURES - 1))
                self._failures[key] = (count, now + lock)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def keys(user_name: str, client: str | None) -> tuple[str, str]:
    """The throttle's keys of one attempt: the name tried (as typed, case-folded) and the client's address."""
    return f"user:{user_name.strip().casefold()}", f"client:{client or 'local'}"


# One per app process: every session's logins count together.
THROTTLE = LoginThrottle()
