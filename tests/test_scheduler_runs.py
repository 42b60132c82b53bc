"""Job runs as the scheduler makes them: dependency order, retries, alerts after the last retry, timeouts."""

from __future__ import annotations

import os
import threading
import time

import pytest

from core import runlog
from scheduler import alerts
from scheduler.jobs import job_specs
from scheduler.runner import Runner
from scheduler.service import Service
from tests.support.polling import wait_for
from tests.support.receivers import channel_env
from tests.support.scheduler import TASKS, job_settings, runs

pytestmark = pytest.mark.slow  # job processes, real SMTP and HTTP receivers


def test_scheduled_chain_runs_in_dependency_order(tmp_path):
    order = tmp_path / "order.txt"
    jobs = {
        "extract": {"task": f"{TASKS}:append", "args": {"name": "extract", "path": str(order)}, "every_seconds": 1},
        "build": {"task": f"{TASKS}:append", "args": {"name": "build", "path": str(order)}, "after": ["extract"]},
        "report": {"task": f"{TASKS}:append", "args": {"name": "report", "path": str(order)}, "after": ["build"]},
    }
    settings = job_settings(tmp_path / "data", jobs)
    service = Service(settings)
    service.start()
    try:
        wait_for(lambda: any(r["job"] == "report" and r["status"] == "success" for r in runs(settings)))
    finally:
        service.stop()
    history = runs(settings)
    first = {job: next(r for r in history if r["job"] == job) for job in ("extract", "build", "report")}
    assert all(r["status"] == "success" and r["trigger"] == "scheduled" for r in first.values())
    assert first["extract"]["finished_at"] <= first["build"]["started_at"]
    assert first["build"]["finished_at"] <= first["report"]["started_at"]
    assert order.read_text().split()[0::2][:3] == ["extract", "build", "report"]


def test_failed_upstream_skips_its_dependants_and_says_so(tmp_path):
    jobs = {
        "extract": {"task": f"{TASKS}:fail", "schedule": "0 0 1 1 *", "retries": 0},
        "build": {"task": "hello_world", "after": ["extract"]},
        "report": {"task": "hello_world", "after": ["build"]},
    }
    settings = job_settings(tmp_path / "data", jobs)
    assert Runner(settings, job_specs(settings)).run("extract", "manual") == "failed"
    history = {r["job"]: r for r in runs(settings)}
    assert history["extract"]["error"] == "the source said no"
    assert history["build"]["status"] == "skipped" and history["build"]["error"] == "upstream extract failed"
    assert history["report"]["status"] == "skipped" and history["report"]["error"] == "upstream build skipped"


def test_a_partial_upstream_is_alerted_once_not_retried_and_its_dependants_run(tmp_path, receivers):
    webhook, smtp = receivers
    counter = tmp_path / "calls"
    jobs = {
        "extract": {"task": f"{TASKS}:partly", "args": {"counter": str(counter)}, "schedule": "0 0 1 1 *", "retries": 2},
        "build": {"task": "hello_world", "after": ["extract"]},
        "report": {"task": "hello_world", "after": ["build"]},
    }
    settings = job_settings(tmp_path / "data", jobs, **channel_env(webhook, smtp))
    assert Runner(settings, job_specs(settings)).run("extract", "manual") == "partial"
    assert counter.read_text() == "1"  # the failed part would fail again: no retry
    history = {r["job"]: r for r in runs(settings)}
    assert history["extract"]["status"] == "partial" and "t3" in history["extract"]["error"]
    assert history["build"]["status"] == "success" and history["report"]["status"] == "success"
    expected = (
        "[ERROR] Job extract partly failed (the jobs after it run on what it did): "
        "loaded every table but t3, whose rows failed their contract"
    )
    assert webhook.texts("job:extract") == [expected] and smtp.subjects() == [f"duckstack: {expected}"]
    assert runlog.latest_per_job(settings.meta_path)["extract"]["status"] == "partial"


def test_a_one_success_job_runs_on_the_upstreams_that_succeeded(tmp_path):
    order = tmp_path / "order.txt"
    jobs = {
        "load_a": {"task": f"{TASKS}:append", "args": {"name": "load_a", "path": str(order)}, "schedule": "0 0 1 1 *"},
        "load_b": {"task": f"{TASKS}:fail", "schedule": "0 0 1 1 *", "retries": 0},
        "build": {"task": f"{TASKS}:append", "args": {"name": "build", "path": str(order)}, "after": ["load_*"]},
        "report": {"task": f"{TASKS}:append", "args": {"name": "report", "path": str(order)}, "after": ["build"]},
    }
    jobs["build"]["trigger_rule"] = "one_success"
    settings = job_settings(tmp_path / "data", jobs)
    runner = Runner(settings, job_specs(settings))
    assert runner.run("load_b", "manual") == "failed"  # no upstream succeeded yet: skipped, saying so
    history = {r["job"]: r for r in runs(settings)}
    assert history["build"]["status"] == "skipped"
    assert history["build"]["error"] == "no upstream succeeded: upstream load_a has never run; upstream load_b failed"
    assert history["report"]["status"] == "skipped" and history["report"]["error"] == "upstream build skipped"

    assert runner.run("load_a", "manual") == "success"  # load_b still failed: build runs on load_a's output
    history = {r["job"]: r for r in runs(settings)}
    assert history["build"]["status"] == "success" and history["report"]["status"] == "success"
    assert order.read_text().split()[0::2] == ["load_a", "build", "report"]


def test_a_missed_slot_of_an_upstream_does_not_block_its_dependants(tmp_path):
    jobs = {
        "extract": {"task": "hello_world", "schedule": "0 0 1 1 *", "retries": 0},
        "lookup": {"task": "hello_world", "schedule": "0 0 1 1 *", "retries": 0},
        "build": {"task": "hello_world", "after": ["extract", "lookup"]},
    }
    settings = job_settings(tmp_path / "data", jobs)
    runner = Runner(settings, job_specs(settings))
    assert runner.run("lookup", "manual", cascade=False) == "success"
    # a slot of lookup that came while it still ran, recorded after its successful run
    runner.skip("lookup", "scheduled", "its previous run was still in progress; max_instances is 1", status="missed")
    assert runner.run("extract", "manual") == "success"
    build = runs(settings, "build")
    assert [(r["status"], r["error"]) for r in build] == [("success", None)], build
    assert runlog.latest_per_job(settings.meta_path)["lookup"]["status"] == "success"


def test_a_job_asked_to_run_while_it_runs_runs_once_more_when_that_run_ends(tmp_path):
    # e.g. transform, asked by a second upstream whose load finished after the running build read raw
    marker = tmp_path / "started"
    jobs = {"build": {"task": f"{TASKS}:sleep", "args": {"seconds": 2, "marker": str(marker)}, "schedule": "0 0 1 1 *", "retries": 0}}
    settings = job_settings(tmp_path / "data", jobs)
    runner = Runner(settings, job_specs(settings))
    outcome: list[str] = []
    first = threading.Thread(target=lambda: outcome.append(runner.run("build", "manual")))
    first.start()
    wait_for(marker.exists, timeout=120)
    assert runner.run("build", "scheduled") == "missed"
    assert runner.run("build", "scheduled") == "missed"  # requests while it runs come to one more run
    first.join(timeout=300)
    assert outcome == ["success"]
    history = runs(settings, "build")
    assert [r["status"] for r in history] == ["success", "missed", "missed", "success"], history
    assert all("it runs again once that run ends" in r["error"] for r in history if r["status"] == "missed")
    assert history[0]["finished_at"] <= history[-1]["started_at"]  # after the run it was asked during, not beside it
    assert runner.run("build", "manual") == "success"  # nothing left asked: one run
    assert len(runs(settings, "build")) == 5


def test_retry_then_success_records_each_attempt_and_sends_no_alert(tmp_path, receivers):
    webhook, smtp = receivers
    counter = tmp_path / "calls"
    jobs = {
        "flaky": {
            "task": f"{TASKS}:flaky",
            "args": {"counter": str(counter), "fail_times": 2},
            "every_seconds": 3600,
            "retries": 3,
            "retry_backoff_seconds": 0.2,
        }
    }
    settings = job_settings(tmp_path / "data", jobs, **channel_env(webhook, smtp))
    assert Runner(settings, job_specs(settings)).run("flaky", "scheduled") == "success"
    history = runs(settings, "flaky")
    assert [(r["attempt"], r["trigger"], r["status"]) for r in history] == [
        (1, "scheduled", "failed"),
        (2, "retry", "failed"),
        (3, "retry", "success"),
    ]
    assert history[0]["error"] == "flaky failure 1 of 2"
    assert (history[2]["rows_in"], history[2]["rows_out"]) == (7, 5)
    assert counter.read_text() == "3"
    assert webhook.received == [] and smtp.messages == []


def test_retry_then_alert_once_then_recovery(tmp_path, receivers):
    webhook, smtp = receivers
    failing = {"sync": {"task": f"{TASKS}:fail", "every_seconds": 3600, "retries": 1, "retry_backoff_seconds": 0.1}}
    settings = job_settings(tmp_path / "data", failing, **channel_env(webhook, smtp))
    runner = Runner(settings, job_specs(settings))

    assert runner.run("sync", "scheduled") == "failed"
    assert [(r["attempt"], r["status"]) for r in runs(settings, "sync")] == [(1, "failed"), (2, "failed")]
    expected = "[ERROR] Job sync failed after 2 attempt(s): the source said no"
    assert webhook.texts("job:sync") == [expected]
    assert smtp.subjects() == [f"duckstack: {expected}"] and smtp.messages[0]["to"] == ["ops@example.com"]

    assert runner.run("sync", "scheduled") == "failed"  # still broken: the problem is open, no second alert
    assert len(webhook.received) == 1 and len(smtp.messages) == 1
    assert [a["alert_key"] for a in alerts.open_alerts(settings.meta_path)] == ["job:sync"]

    fixed = job_settings(tmp_path / "data", {"sync": {**failing["sync"], "task": "hello_world"}}, **channel_env(webhook, smtp))
    assert Runner(fixed, job_specs(fixed)).run("sync", "scheduled") == "success"
    assert webhook.texts("job:sync")[1:] == ["[RESOLVED] Job sync succeeded again."]
    assert smtp.subjects()[1:] == ["duckstack: [RESOLVED] Job sync succeeded again."]
    assert alerts.open_alerts(settings.meta_path) == []


def test_hung_job_is_stopped_and_recorded_as_timed_out(tmp_path):
    marker = tmp_path / "pid"
    jobs = {
        "hang": {
            "task": f"{TASKS}:sleep",
            "args": {"seconds": 120, "marker": str(marker)},
            "every_seconds": 3600,
            "timeout_seconds": 10,
            "retries": 0,
        }
    }
    settings = job_settings(tmp_path / "data", jobs)
    started = time.monotonic()
    assert Runner(settings, job_specs(settings)).run("hang", "manual") == "timed_out"
    assert time.monotonic() - started < 60
    (run,) = runs(settings, "hang")
    assert run["status"] == "timed_out" and "timeout of 10 s" in run["error"]
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)
    assert [a["alert_key"] for a in alerts.open_alerts(settings.meta_path)] == ["job:hang"]
