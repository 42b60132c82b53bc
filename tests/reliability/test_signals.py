"""SIGTERM reaches the pipeline through `uv run just run` and is never swallowed: the run ends with the
writer lock released and its run row closed."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
import weakref

import pytest

from core.entrypoint import guarded
from core.lock import holder
from tests.reliability import harness
from tests.support.polling import wait_for
from tests.support.project import ROOT

MOMENTS = int(os.environ.get("SIGNAL_MOMENTS", "3"))


def test_a_sigterm_raised_inside_a_weakref_callback_still_stops_the_command():
    def work() -> int:
        class Held:
            pass

        def callback(_) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000):  # the handler runs here, inside the callback, where Python swallows what it raises
                pass

        held = Held()
        ref = weakref.ref(held, callback)
        del held
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.01)
        return 0 if ref() is None else 2

    assert guarded(work) == 143


def _open_runs(settings) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con:
        return con.execute("SELECT run_id, job FROM job_runs WHERE status = 'running'").fetchall()


@pytest.mark.slow
def test_sigterm_to_the_top_uv_run_just_run_reaches_the_pipeline(built_copy, tmp_path):
    settings = built_copy
    random_ = harness.rng("sigterm uv run just run")
    stopped = 0
    for attempt in range(MOMENTS):
        with open(tmp_path / f"run-{attempt}.log", "wb") as out:
            top = subprocess.Popen(
                ["uv", "run", "--frozen", "just", "run"],
                cwd=ROOT,
                env=harness.child_env(settings.data_dir),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: holder(settings.data_dir) is not None, timeout=180, step=0.02, what="the run to take the writer lock")
        time.sleep(random_.uniform(0, 3.0))  # a varied moment of the run
        top.send_signal(signal.SIGTERM)
        top.wait(timeout=120)
        wait_for(lambda: holder(settings.data_dir) is None, timeout=10, step=0.05, what="the writer lock to be released")
        assert _open_runs(settings) == [], (tmp_path / f"run-{attempt}.log").read_text()
        stopped += "interrupted (SIGTERM)" in (tmp_path / f"run-{attempt}.log").read_text()
    harness.tally("sigterm_uv_run_just_run", signals=MOMENTS, stopped=stopped)
    assert stopped >= 1  # the runs the signal reached before they ended said so; none went on holding the lock
