"""`just trigger JOB` while the service runs: the scheduler's path (retries, run log, dependants), one writer at a time."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

from scheduler.runner import job_log_path
from scheduler.service import Service
from tests.support.polling import wait_for
from tests.support.project import ROOT, SMALL_SCALE
from tests.support.scheduler import OFF, TASKS, job_settings, runs

pytestmark = pytest.mark.slow  # a real service, job processes and a CLI process


def _spans(path) -> list[tuple[str, float, float]]:
    if not path.exists():
        return []
    return [(name, float(start), float(end)) for name, start, end in (line.split() for line in path.read_text().splitlines())]


def test_trigger_runs_the_scheduled_path_and_waits_for_the_services_writer(tmp_path):
    spans, started, release = tmp_path / "spans.txt", tmp_path / "long-started", tmp_path / "long-may-end"
    jobs = {
        # the service's writer: holds the writer lock until the test releases it
        "long": {
            "task": f"{TASKS}:span",
            "args": {"name": "long", "path": str(spans), "marker": str(started), "release": str(release)},
            "every_seconds": 1,
            "writes": True,
            "retries": 0,
        },
        "quick": {
            "task": f"{TASKS}:span",
            "args": {"name": "quick", "path": str(spans), "fail_times": 1},
            "schedule": "0 0 1 1 *",
            "writes": True,
            "retries": 1,
            "retry_backoff_seconds": 0,
        },
        "after_quick": {"task": "hello_world", "after": ["quick"]},
    }
    env = {"PLATFORM__RUN__LOCK_WAIT_SECONDS": "120"}
    data = tmp_path / "data"
    settings = job_settings(data, jobs, **env)
    quick_log = job_log_path(settings, "quick")
    service, trigger = Service(settings), None
    service.start()
    try:
        wait_for(started.exists, step=0.05)  # the service's run of `long` now holds the writer lock
        (running,) = [r for r in runs(settings, "long") if r["status"] == "running"]
        trigger = ops_process("trigger", "quick", data_dir=data, PLATFORM__JOBS__DEFINE=json.dumps({**OFF, **jobs}), **env)
        wait_for(lambda: quick_log.exists() and "waiting for the writer lock" in quick_log.read_text())
        assert [r["status"] for r in runs(settings, "quick")] == ["running"] and not spans.exists()
        release.touch()
        out, err = trigger.communicate(timeout=300)
    finally:
        release.touch()
        if trigger is not None and trigger.poll() is None:
            trigger.kill()
        service.stop()
    assert trigger.returncode == 0, err
    assert "Job quick: success, rows out 1" in out

    long_run = next(r for r in runs(settings, "long") if r["run_id"] == running["run_id"])
    assert long_run["status"] == "success"
    quick = runs(settings, "quick")
    assert [(r["trigger"], r["attempt"], r["status"]) for r in quick] == [("manual", 1, "failed"), ("retry", 2, "success")]
    assert quick[0]["error"] == "quick failed on call 1 of 1"
    # the first attempt waited for the service's writer to finish instead of writing beside it
    recorded = _spans(spans)
    (long_span, quick_first) = recorded[0], next(span for span in recorded if span[0] == "quick")
    assert long_span[0] == "long" and quick_first[1] >= long_span[2]  # it worked only once `long` had let go
    for (_, _, end_a), (_, start_b, _) in itertools.pairwise(recorded):
        assert end_a <= start_b  # no two writers ever overlapped
    assert "waiting for the writer lock (pid" in quick_log.read_text() and "running 'scheduled job long'" in quick_log.read_text()
    (dependant,) = runs(settings, "after_quick")
    assert dependant["trigger"] == "manual" and dependant["status"] == "success"


def ops_process(*args: str, data_dir, **env: str) -> subprocess.Popen:
    """The operator command line in its own process, as `just` starts it, left running."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "COLUMNS": "250", **env})
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", *args],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
