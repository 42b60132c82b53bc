"""Waiting for something another thread or process does, with a deadline."""

from __future__ import annotations

import time

import pytest


def wait_for(condition, timeout: float = 60, step: float = 0.1, what: str | None = None):
    """Poll `condition` until it returns something true (and return that), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
