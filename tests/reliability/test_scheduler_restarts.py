"""kill -9 the scheduler service repeatedly while its job runs, and restart it.

The job (`tick`, every PERIOD seconds, 0.3 s of work) has slots start + k * PERIOD, kept in the
persistent job store across restarts. From `job_runs` in data/meta.db:
- no slot ever has two runs (no job runs twice for one trigger);
- after each restart exactly one run catches up what was missed during the downtime (coalesced);
- every slot while the service is up has its run, or a recorded skip when the previous run was
  still in progress (none lost in silence).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time

import pytest

from core import runlog
from scheduler import store
from tests.reliability import harness
from tests.support.polling import wait_for
from tests.support.scheduler import TASKS, job_settings, serve

pytestmark = pytest.mark.slow
PERIOD = 2.5
RESTARTS = 3
WORK = 0.3
UTC = dt.UTC


def _runs(settings) -> list[dict]:
    return [r for r in reversed(runlog.last_runs(settings.meta_path, 1000, job="tick"))]


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _started_log_times(data_dir) -> list[dt.datetime]:
    lines = (data_dir / "logs" / "scheduler.log").read_text().splitlines()
    return [
        _at(entry["ts"]) for entry in map(json.loads, lines) if entry.get("msg", entry.get("message", "")).startswith("scheduler started")
    ]


def test_kill_and_restart_the_scheduler_while_its_job_runs(tmp_path):
    random_ = harness.rng("scheduler_restarts")
    data = tmp_path / "data"
    jobs = {
        "tick": {
            "task": f"{TASKS}:sleep",
            "args": {"seconds": WORK, "marker": str(tmp_path / "pid")},
            "every_seconds": PERIOD,
            "retries": 0,
        }
    }
    settings = job_settings(data, jobs)
    kills: list[dt.datetime] = []
    asked_to_stop: dt.datetime | None = None
    for cycle in range(RESTARTS + 1):
        service = serve(data, jobs)
        try:
            seen = len(_runs(settings))
            # up for at least two slots, then kill while a run is in progress
            wait_for(lambda: len(_runs(settings)) >= seen + 2, timeout=180, step=0.05, what="two runs")  # noqa: B023 - called in this cycle
            wait_for(lambda: _runs(settings)[-1]["status"] == "running", timeout=30, step=0.01, what="a run in progress")
            if cycle == RESTARTS:
                asked_to_stop = dt.datetime.now(UTC)  # from here it starts no new run (Service.stop)
                break
            time.sleep(random_.uniform(0, WORK))
            os.kill(service.pid, signal.SIGKILL)
            kills.append(dt.datetime.now(UTC))
            service.wait(timeout=30)
            time.sleep(random_.uniform(1.2 * PERIOD, 2.5 * PERIOD))  # down: at least one slot missed
        finally:
            if service.poll() is None and cycle == RESTARTS:
                service.send_signal(signal.SIGTERM)
                service.communicate(timeout=120)
            elif service.poll() is None:
                service.kill()
    assert asked_to_stop is not None

    with store.opened(settings) as scheduler:
        start = scheduler.get_job("tick").trigger.start_date.astimezone(UTC)
    slot = lambda moment: int((moment - start).total_seconds() // PERIOD)
    offset = lambda moment: (moment - start).total_seconds() % PERIOD
    on_boundary = lambda moment: min(offset(moment), PERIOD - offset(moment)) < 0.25
    rows = _runs(settings)
    # max_instances=1: a slot that comes while the previous run still works is missed by design, and recorded
    missed = [r for r in rows if r["status"] == "missed"]
    assert all("previous run was still in progress" in (r["error"] or "") for r in missed), missed
    starts = [_at(r["started_at"]) for r in rows if r["status"] != "missed"]
    per_slot: dict[int, int] = {}
    for moment in [_at(r["started_at"]) for r in rows]:
        per_slot[slot(moment)] = per_slot.get(slot(moment), 0) + 1
    twice = {k: n for k, n in per_slot.items() if n > 1}
    assert not twice, f"slots with two runs or missed runs: {twice}"

    ups = _started_log_times(data)
    assert len(ups) == RESTARTS + 1
    lost = 0
    for i, up in enumerate(ups):
        down = kills[i] if i < len(kills) else asked_to_stop
        if i:  # the catch-up: one run right after the restart, for all the missed slots together
            window = [m for m in starts if up <= m < up + dt.timedelta(seconds=1.0)]
            # a run on a slot's boundary is that slot's own run (the catch-up may finish before it)
            catch_up = [m for m in window if not on_boundary(m)] if len(window) > 1 else window
            assert len(catch_up) == 1, f"restart {i}: {len(catch_up)} catch-up runs in {window}"
        for k in range(slot(up + dt.timedelta(seconds=1.0)) + 1, slot(down - dt.timedelta(seconds=0.3))):
            lost += per_slot.get(k, 0) != 1
    assert lost == 0, f"{lost} slots with neither a run nor a recorded missed run while the service was up"
    statuses = {r["status"] for r in rows}
    assert statuses <= {"success", "interrupted", "running", "missed"}, statuses
    harness.tally("scheduler_restarts", kills=len(kills), runs=len(starts), runs_twice=len(twice), slots_lost=lost)
