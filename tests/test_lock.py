"""One writer at a time: a second writer waits with a message, then gives up clearly."""

from __future__ import annotations

import threading
import time

import pytest

from core.errors import PlatformError
from core.lock import holder, writer_lock
from tests.support.project import run_cli


def test_second_writer_times_out_naming_the_holder(tmp_path):
    with writer_lock(tmp_path, purpose="first", wait_seconds=0):
        assert holder(tmp_path)["purpose"] == "first"
        started = time.monotonic()
        with pytest.raises(PlatformError, match=r"Another writer holds the lock .*running 'first'"):
            with writer_lock(tmp_path, purpose="second", wait_seconds=0.5):
                pytest.fail("two writers held the lock at once")
        assert time.monotonic() - started >= 0.5
    assert holder(tmp_path) is None


def test_waiting_writer_runs_once_the_first_finishes(tmp_path):
    order: list[str] = []
    waits: list[dict] = []

    def first() -> None:
        with writer_lock(tmp_path, purpose="first", wait_seconds=0):
            order.append("first start")
            time.sleep(0.6)
            order.append("first end")

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.2)
    with writer_lock(tmp_path, purpose="second", wait_seconds=10, on_wait=waits.append):
        order.append("second start")
    thread.join()
    assert order == ["first start", "first end", "second start"]
    assert waits and waits[0]["purpose"] == "first"


def test_cli_run_refuses_while_another_writer_holds_the_lock(tmp_path):
    data = tmp_path / "data"
    with writer_lock(data, purpose="a scheduled run", wait_seconds=0):
        result = run_cli("run", data_dir=data, PLATFORM__RUN__LOCK_WAIT_SECONDS="1")
    assert result.returncode == 1
    assert "Another writer holds the lock" in result.stderr and "a scheduled run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (data / "warehouse.duckdb").exists()
