"""A generated battery of job graphs run by the real service: sources on short intervals, stages after one or more
of them, a final stage after the stages, each taking its own time, so that upstreams finish while their dependants
run, together, and in every order. Each stage reads its upstreams' outputs as it starts (as a build reads raw) and
writes its own when it ends (tests/support/scheduler_tasks.py `stage`).

One source fails every few runs. Once the sources stop and every run has ended, each dependant either succeeded
last having read the last output of each of its upstreams, or, when an upstream's last run did not succeed, was
skipped last saying so: what the scheduler reports as done reflects every upstream run that finished, whatever
the timing, and never passes off stale input as success.
`SCHEDULER_BATTERY_SEEDS=20` (environment) runs more graphs.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from core import runlog
from scheduler.service import Service
from tests.support.polling import wait_for
from tests.support.scheduler import TASKS, job_settings

pytestmark = pytest.mark.slow  # real job processes, real waiting

SEEDS = range(int(os.environ.get("SCHEDULER_BATTERY_SEEDS", "2")))
ROUNDS = 3  # each: the sources run on their schedules for RUN_SECONDS, then stop until every run has ended
RUN_SECONDS = 4


def _graph(seed: int, folder) -> dict:
    rng = random.Random(seed)
    sources = [f"source_{i}" for i in range(rng.randint(2, 3))]
    stages = [f"stage_{i}" for i in range(rng.randint(1, 2))]
    job = lambda name, inputs, low, high: {
        "task": f"{TASKS}:stage",
        "args": {"name": name, "folder": str(folder), "inputs": inputs, "seconds": round(rng.uniform(low, high), 2)},
        "retries": 0,
    }
    # sources quicker than their stages: a source often ends while a stage that read its previous output works
    jobs = {name: {**job(name, [], 0.05, 0.8), "every_seconds": rng.choice([1, 2])} for name in sources}
    failing = rng.choice(sources)  # fails every few runs: its dependants must say so until it succeeds again
    jobs[failing]["args"]["fail_every"] = rng.randint(2, 4)
    rule = lambda: rng.choice(["all_success", "one_success"])
    for name in stages:
        upstreams = sorted(rng.sample(sources, rng.randint(1, len(sources))))
        jobs[name] = {**job(name, upstreams, 0.8, 2.5), "after": upstreams, "trigger_rule": rule()}
    upstreams = stages + sorted(rng.sample(sources, rng.randint(0, 1)))
    jobs["final"] = {**job("final", upstreams, 0.2, 1.0), "after": upstreams, "trigger_rule": rule()}
    return jobs


class _Quiet:
    """True once no run is in progress and none has started for `seconds`."""

    def __init__(self, settings, seconds: float = 2.5) -> None:
        self.settings, self.seconds = settings, seconds
        self.last: tuple[int, float] = (-1, time.monotonic())

    def __call__(self) -> bool:
        rows = runlog.last_runs(self.settings.meta_path, 1000)
        newest = max((row["run_id"] for row in rows), default=0)
        if any(row["status"] == "running" for row in rows) or newest != self.last[0]:
            self.last = (newest, time.monotonic())
            return False
        return time.monotonic() - self.last[1] >= self.seconds


@pytest.mark.parametrize("seed", SEEDS)
def test_every_dependant_ends_reflecting_the_last_run_of_each_upstream(tmp_path, seed):
    folder = tmp_path / "out"
    folder.mkdir()
    jobs = _graph(seed, folder)
    settings = job_settings(tmp_path / "data", jobs)
    service = Service(settings)
    service.start()
    try:
        assert service.scheduler is not None
        for _ in range(ROUNDS):
            time.sleep(RUN_SECONDS)
            service.scheduler.pause()  # no new scheduled run; the runs under way finish, with their dependants
            wait_for(_Quiet(settings), timeout=180, step=0.2, what="every run to end")
            _check(jobs, folder, settings)
            service.scheduler.resume()
    finally:
        service.stop()
    # the graph ran: every source again while its dependants worked, and the final stage
    versions = [json.loads((folder / f"{name}.json").read_text())["version"] for name in jobs if name.startswith("source_")]
    assert sum(versions) > len(versions) and (folder / "final.json").exists()


def _check(jobs: dict, folder, settings) -> None:
    """Each dependant either succeeded last having read the last output of every upstream, or was skipped last,
    saying why: when an upstream's last run did not succeed (`all_success`), or none's did (`one_success`). Never a
    success on stale input."""
    history = runlog.last_runs(settings.meta_path, 100_000)
    failing = {name for name, spec in jobs.items() if spec["args"].get("fail_every")}
    assert {row["job"] for row in history if row["status"] == "failed"} <= failing, history
    assert {row["status"] for row in history} <= {"success", "missed", "skipped", "failed"}, history
    latest = runlog.latest_per_job(settings.meta_path)
    outputs = {name: json.loads(path.read_text()) if (path := folder / f"{name}.json").exists() else None for name in jobs}
    for name, spec in jobs.items():
        upstreams = spec.get("after", [])
        if not upstreams:
            continue
        where = f"{name} after {upstreams}; graph {jobs}; runs {history}"
        succeeded = [latest[upstream]["status"] == "success" for upstream in upstreams]
        if all(succeeded) or (spec["trigger_rule"] == "one_success" and any(succeeded)):
            assert latest[name]["status"] == "success", where
            for upstream in upstreams:  # a failed upstream's last output is its last success's
                seen, last = outputs[name]["read"][upstream], (outputs[upstream] or {"version": 0})["version"]
                assert seen == last, f"{name} last read {upstream} version {seen} of {last}: {where}"
        else:
            why = "upstream" if spec["trigger_rule"] == "all_success" else "no upstream succeeded"
            assert latest[name]["status"] == "skipped" and latest[name]["error"].startswith(why), where
