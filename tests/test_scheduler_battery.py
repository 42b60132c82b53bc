"""A generated battery of job graphs run by the real service: sources on short intervals, stages after one or more
of them, a final stage after the stages, each taking its own time, so that upstreams finish while their dependants
run, together, and in every order. Each stage reads its upstreams' outputs as it starts (as a build reads raw) and
writes its own when it ends (tests/support/scheduler_tasks.py `stage`).

Once the sources stop and every run has ended, each dependant's last output must have read the last output of each
of its upstreams: what the scheduler reports as done reflects every upstream run that finished, whatever the timing.
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
    for name in stages:
        upstreams = sorted(rng.sample(sources, rng.randint(1, len(sources))))
        jobs[name] = {**job(name, upstreams, 0.8, 2.5), "after": upstreams}
    upstreams = stages + sorted(rng.sample(sources, rng.randint(0, 1)))
    jobs["final"] = {**job("final", upstreams, 0.2, 1.0), "after": upstreams}
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
            _check(jobs, folder, runlog.last_runs(settings.meta_path, 100_000))
            service.scheduler.resume()
    finally:
        service.stop()


def _check(jobs: dict, folder, history: list[dict]) -> None:
    # nothing fails here; a dependant is skipped only while one of its upstreams has not run yet (or for that skip)
    odd = [
        row
        for row in history
        if row["status"] not in ("success", "missed")
        and not (row["status"] == "skipped" and ("has never run" in row["error"] or row["error"].endswith(" skipped")))
    ]
    assert not odd, odd
    outputs = {name: json.loads((folder / f"{name}.json").read_text()) for name in jobs}
    for name, spec in jobs.items():
        for upstream in spec.get("after", []):
            seen, last = outputs[name]["read"][upstream], outputs[upstream]["version"]
            assert seen == last, f"{name} last read {upstream} version {seen} of {last}; graph {jobs}; runs {history}"
    # the graph ran: every job at least once, and the sources again while their dependants worked
    assert all(output["version"] >= 1 for output in outputs.values())
    assert sum(outputs[name]["version"] for name in jobs if name.startswith("source_")) > len([n for n in jobs if n.startswith("source_")])
