"""kill -9 of the scheduler: its worker is gone within a second, the lock with it; a job that finished
while the scheduler was down is recorded as it ended; no result file stays in data/run/."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core import runlog
from core.lock import holder
from core.metastore import connect
from scheduler.runner import result_file
from scheduler.service import Service
from tests.reliability import harness
from tests.support.polling import wait_for
from tests.support.scheduler import TASKS, job_settings, runs, serve

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip() not in ("", "Z")


def test_the_worker_of_a_killed_scheduler_is_gone_within_a_second_with_the_lock(tmp_path):
    marker = tmp_path / "pid"
    jobs = {"nap": {"task": f"{TASKS}:busy", "args": {"marker": str(marker)}, "every_seconds": 1, "writes": True}}
    data = tmp_path / "data"
    service = serve(data, jobs)
    try:
        wait_for(lambda: marker.exists() and (holder(data) or {}).get("purpose") == "scheduled job nap", timeout=120, step=0.02)
        worker = int(marker.read_text())
        os.kill(service.pid, signal.SIGKILL)
        killed = time.monotonic()
        service.wait(timeout=30)
        wait_for(lambda: holder(data) is None, timeout=30, step=0.02, what="the orphaned worker to release the lock")
        gone_after = time.monotonic() - killed
        wait_for(lambda: not _alive(worker), timeout=30, step=0.05, what="the orphaned worker to end")
    finally:
        if service.poll() is None:
            service.kill()
    harness.tally("scheduler_kill_worker", kills=1, seconds_to_release=round(gone_after, 2))
    assert gone_after < 1.5, f"the orphaned worker held the lock {gone_after:.2f} s after its scheduler died"


def test_a_job_that_finished_while_its_scheduler_was_killed_is_recorded_as_it_ended(tmp_path):
    settings = job_settings(tmp_path / "data", {"tick": {"task": "hello_world", "every_seconds": 3600}})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # what a scheduler killed just after its worker wrote the outcome leaves: a `running` row and the result file
    succeeded = runlog.start_run(settings.meta_path, "tick", trigger="scheduled")
    lost = runlog.start_run(settings.meta_path, "tick", trigger="scheduled")
    with contextlib.closing(connect(settings.meta_path)) as con, con:
        con.execute("UPDATE job_runs SET pid = ? WHERE run_id IN (?, ?)", (dead.pid, succeeded, lost))
    result_file(settings, succeeded).parent.mkdir(parents=True)
    result_file(settings, succeeded).write_text(json.dumps({"status": "success", "rows_out": 7}))
    (settings.data_dir / "run" / "result-0123abcd.json").write_text("{}")  # one an older release left

    service = Service(settings)
    service.start()
    service.stop()

    by_id = {run["run_id"]: run for run in runs(settings, "tick")}
    assert (by_id[succeeded]["status"], by_id[succeeded]["rows_out"]) == ("success", 7)
    assert by_id[lost]["status"] == "interrupted"  # its worker wrote nothing: it did not finish
    assert list((settings.data_dir / "run").glob("result-*.json")) == []
