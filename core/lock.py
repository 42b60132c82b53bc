"""One OS-level writer lock: every process that writes the lake or the warehouse holds it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from core.errors import PlatformError

POLL_SECONDS = 0.2


def lock_path(data_dir: Path) -> Path:
    return data_dir / ".writer.lock"


def holder(data_dir: Path) -> dict | None:
    """Who holds the lock now, as written by the holder; None when it is free."""
    path = lock_path(data_dir)
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(handle.read() or "{}")
            return {}
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def writer_lock(data_dir: Path, *, purpose: str, wait_seconds: float, on_wait: Callable[[dict], None] | None = None) -> Iterator[None]:
    """Hold the writer lock for the block; wait up to `wait_seconds` for the current holder.

    The kernel releases a flock when its process dies, so a killed run never
    leaves a stale lock behind.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path(data_dir), "a+")
    try:
        deadline = time.monotonic() + wait_seconds
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                current = _read(handle)
                if time.monotonic() >= deadline:
                    raise PlatformError(
                        f"Another writer holds the lock on {data_dir} ({describe_holder(current)}). "
                        f"Gave up after {wait_seconds:g} s. Wait for it to finish, or raise "
                        "run.lock_wait_seconds (PLATFORM__RUN__LOCK_WAIT_SECONDS)."
                    ) from None
                if not announced and on_wait is not None:
                    on_wait(current)
                    announced = True
                time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "purpose": purpose, "since": time.time()}))
        handle.flush()
        yield
    finally:
        handle.close()


def _read(handle) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {}


def describe_holder(info: dict) -> str:
    """A one-line account of a lock holder, for messages."""
    if not info:
        return "holder unknown"
    age = time.time() - float(info.get("since", time.time()))
    return f"pid {info.get('pid')} running '{info.get('purpose')}' for {age:.0f} s"
