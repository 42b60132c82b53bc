"""The service: a restart catches up once, a second scheduler is refused, SIGTERM lets a job finish or interrupts it."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest

from core import runlog
from scheduler import store
from scheduler.service import Service, running_scheduler
from tests.support.polling import wait_for
from tests.support.scheduler import TASKS, job_settings, runs, serve

PERIOD = 3.0
pytestmark = pytest.mark.slow  # real service processes and real waiting


def _one_run_then_down(settings) -> tuple[dt.datetime, int]:
    """Serve until `tick` has run once, then stop: its next planned run and the runs so far."""
    first = Service(settings)
    first.start()
    try:
        wait_for(lambda: [r for r in runs(settings, "tick") if r["status"] == "success"])
    finally:
        first.stop()
    (planned,) = [row for row in store.snapshot(settings.meta_path) if row["job_id"] == "tick"]
    return dt.datetime.fromisoformat(planned["next_run_at"]), len(runs(settings, "tick"))


def test_restart_after_three_missed_periods_runs_once_and_keeps_one_job(tmp_path):
    settings = job_settings(
        tmp_path / "data", {"tick": {"task": "hello_world", "every_seconds": PERIOD}}, PLATFORM__JOBS__SHUTDOWN_GRACE_SECONDS="60"
    )
    next_run, before = _one_run_then_down(settings)

    # Stay down until three planned runs (next_run, +1, +2 periods) have been missed.
    missed_until = next_run + dt.timedelta(seconds=2 * PERIOD + 0.3)
    time.sleep(max(0.0, (missed_until - dt.datetime.now(dt.UTC)).total_seconds()))
    restarted_at = dt.datetime.now(dt.UTC)
    second = Service(settings)
    second.start()
    try:
        # Stop as soon as the catch-up run has started: had the three missed runs not been coalesced,
        # more would be queued at once, and max_instances=1 keeps a later planned run from overlapping it.
        wait_for(lambda: len(runs(settings, "tick")) > before, step=0.02)
    finally:
        second.stop()

    catch_up = runs(settings, "tick")[before:]
    assert restarted_at - next_run >= dt.timedelta(seconds=2 * PERIOD)
    assert len(catch_up) == 1 and catch_up[0]["status"] == "success" and catch_up[0]["trigger"] == "scheduled"
    with store.opened(settings) as scheduler:
        assert [job.id for job in scheduler.get_jobs()] == ["tick"]
        assert scheduler.get_job("tick").next_run_time > restarted_at


def test_a_run_that_outlasts_its_period_records_each_slot_it_misses(tmp_path):
    jobs = {"slow": {"task": f"{TASKS}:sleep", "args": {"seconds": 3.5, "marker": str(tmp_path / "pid")}, "every_seconds": 1, "retries": 0}}
    settings = job_settings(tmp_path / "data", jobs)
    service = Service(settings)
    service.start()
    try:
        wait_for(lambda: [r for r in runs(settings, "slow") if r["status"] == "success"], timeout=120, what="a finished run")
    finally:
        service.stop()
    rows = runs(settings, "slow")
    done = [r for r in rows if r["status"] == "success"]
    missed = [r for r in rows if r["status"] == "missed"]
    at = lambda text: dt.datetime.fromisoformat(text)
    # every slot that came while the run worked is in the history, with why, and not as a run
    assert len(missed) >= 2, rows
    assert all(r["error"] == "its previous run was still in progress; max_instances is 1" for r in missed), missed
    first = done[0]
    during = [r for r in missed if at(first["started_at"]) < at(r["started_at"]) < at(first["finished_at"])]
    assert len(during) >= 2, rows
    # a missed slot says nothing of the job's data: its last status is that of its last run
    latest = runlog.latest_per_job(settings.meta_path)["slow"]
    assert latest["run_id"] == max(r["run_id"] for r in rows if r["status"] != "missed"), rows
    assert latest["status"] in {"success", "interrupted"}, latest


def test_a_run_missed_by_more_than_the_grace_is_recorded_as_missed(tmp_path):
    settings = job_settings(
        tmp_path / "data", {"tick": {"task": "hello_world", "every_seconds": PERIOD}}, PLATFORM__JOBS__MISFIRE_GRACE_SECONDS="1"
    )
    next_run, before = _one_run_then_down(settings)

    # Down until the next planned run is 2 s late (the grace is 1 s), and restarted before the one after.
    time.sleep(max(0.0, (next_run + dt.timedelta(seconds=2) - dt.datetime.now(dt.UTC)).total_seconds()))
    second = Service(settings)
    second.start()
    try:
        wait_for(lambda: len(runs(settings, "tick")) > before, step=0.02, what="the missed run's record")
    finally:
        second.stop()
    (missed,) = runs(settings, "tick")[before:][:1]
    assert missed["status"] == "missed" and missed["trigger"] == "scheduled", missed
    assert missed["error"] == "missed by more than jobs.misfire_grace_seconds (1 s)", missed


def test_second_scheduler_on_the_same_data_is_refused(tmp_path):
    settings = job_settings(tmp_path / "data", {"tick": {"task": "hello_world", "every_seconds": 3600}})
    service = Service(settings)
    service.start()
    try:
        second = serve(settings.data_dir, {"tick": {"task": "hello_world", "every_seconds": 3600}})
        _, stderr = second.communicate(timeout=120)
    finally:
        service.stop()
    assert second.returncode == 1
    assert f"Another scheduler is already running on {settings.data_dir} (pid {os.getpid()}" in stderr
    assert "Traceback" not in stderr
    assert running_scheduler(settings.data_dir) is None


@pytest.mark.parametrize(
    ("seconds", "grace", "status"),
    [(120, "1", "interrupted"), (4, "60", "success")],
    ids=["grace-expires", "finishes-within-grace"],
)
def test_sigterm_during_a_job(tmp_path, seconds, grace, status):
    marker = tmp_path / "pid"
    data = tmp_path / "data"
    jobs = {"slow": {"task": f"{TASKS}:sleep", "args": {"seconds": seconds, "marker": str(marker)}, "every_seconds": 1, "retries": 0}}
    service = serve(data, jobs, PLATFORM__JOBS__SHUTDOWN_GRACE_SECONDS=grace)
    try:
        wait_for(marker.exists, timeout=120)
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=120)
    finally:
        if service.poll() is None:
            service.kill()
    settings = job_settings(data, jobs)
    # the 1 s slots that came while it ran are recorded as missed, not as runs
    (run,) = [r for r in runs(settings, "slow") if r["status"] != "missed"]
    assert service.returncode == 0, stderr
    assert run["status"] == status
    if status == "interrupted":
        assert "grace period" in run["error"]
        with pytest.raises(ProcessLookupError):
            os.kill(int(marker.read_text()), 0)
    assert "scheduler stopped" in stderr
    assert running_scheduler(data) is None


def test_reload_applies_config_changes_and_refuses_a_bad_config(tmp_path):
    data = tmp_path / "data"
    configs = iter(
        [
            job_settings(
                data, {"tick": {"task": "hello_world", "every_seconds": 1800}, "tock": {"task": "hello_world", "schedule": "5 4 * * *"}}
            ),
            job_settings(data, {"tick": {"task": "hello_world", "after": ["nothing_like_this"]}}),
        ]
    )
    service = Service(job_settings(data, {"tick": {"task": "hello_world", "every_seconds": 3600}}), reload_settings=lambda: next(configs))
    service.start()
    try:
        service.reload()
        jobs = {job.id: str(job.trigger) for job in service.scheduler.get_jobs(jobstore="default")}
        assert jobs == {"tick": "interval[0:30:00]", "tock": "cron[month='*', day='*', day_of_week='*', hour='4', minute='5']"}
        service.reload()  # `after` names no job: refused, the jobs stay
        assert {job.id for job in service.scheduler.get_jobs(jobstore="default")} == {"tick", "tock"}
    finally:
        service.stop()
    assert {row["job_id"]: row["trigger"] for row in store.snapshot(service.settings.meta_path)} == {
        "tick": "every 1800 s",
        "tock": "cron 5 4 * * *",
    }


class _TwoDaysFast(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return dt.datetime.now(tz) + dt.timedelta(days=2)


def _planned(settings) -> dict[str, dt.datetime]:
    return {
        row["job_id"]: dt.datetime.fromisoformat(row["next_run_at"]) for row in store.snapshot(settings.meta_path) if row["next_run_at"]
    }


def test_next_runs_written_with_the_clock_ahead_follow_the_clock_at_start_reload_and_tick(tmp_path, monkeypatch):
    import types

    import apscheduler.schedulers.base
    import apscheduler.triggers.interval

    jobs = {
        "tick": {"task": "hello_world", "every_seconds": 3600},
        "daily": {"task": "hello_world", "schedule": "5 4 * * *"},
        "hourly": {"task": "hello_world", "schedule": "0 * * * *"},
    }
    settings = job_settings(tmp_path / "data", jobs)
    period = {"tick": dt.timedelta(hours=1), "daily": dt.timedelta(days=1), "hourly": dt.timedelta(hours=1)}
    # the scheduler runs once with the clock two days fast: the job store keeps next runs from it
    with monkeypatch.context() as fast:
        for module in (apscheduler.schedulers.base, apscheduler.triggers.interval):
            fast.setattr(module, "datetime", _TwoDaysFast)
        fast.setattr(store, "dt", types.SimpleNamespace(datetime=_TwoDaysFast, timedelta=dt.timedelta, UTC=dt.UTC))
        ahead = Service(settings)
        ahead.start()
        ahead.stop()
    now = dt.datetime.now(dt.UTC)
    assert all(planned > now + dt.timedelta(days=1) for planned in _planned(settings).values()), _planned(settings)

    def on_time() -> bool:
        now = dt.datetime.now(dt.UTC)
        return all(now < planned <= now + period[job] for job, planned in _planned(settings).items())

    service = Service(settings, reload_settings=lambda: settings)
    service.start()  # the right clock again: start plans them from now
    try:
        assert on_time(), _planned(settings)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        for job in jobs:  # as a run with the clock ahead leaves them while the service goes on
            service.scheduler.modify_job(job, jobstore="default", next_run_time=later)
        service.scheduler.modify_job("_heartbeat", jobstore="internal", next_run_time=later)
        service.tick()
        assert on_time(), _planned(settings)
        assert service.scheduler.get_job("_heartbeat").next_run_time <= dt.datetime.now(dt.UTC) + dt.timedelta(
            seconds=settings.jobs.poll_seconds
        )
        service.scheduler.modify_job("daily", jobstore="default", next_run_time=later)
        service.reload()
        assert on_time(), _planned(settings)
    finally:
        service.stop()


def test_a_run_planned_while_the_tick_reads_the_store_is_not_taken_for_one_ahead_of_the_clock(tmp_path):
    """The scheduler's thread may run a due slot and plan the next one while a tick reads the store: the
    tick must not take that next run for one written with the clock ahead (a cron slot would run twice)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    settings = job_settings(tmp_path / "data", {})
    with store.opened(settings) as scheduler:
        due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
        every = dt.timedelta(seconds=1)
        triggers = {
            "every_second": IntervalTrigger(seconds=1, start_date=due - 5 * every, timezone=dt.UTC),
            "cron_second": CronTrigger(second="*", timezone=dt.UTC),
        }
        for job_id, trigger in triggers.items():
            scheduler.add_job("builtins:print", trigger, id=job_id, jobstore="default", next_run_time=due)
        read = scheduler.get_jobs

        def read_as_the_slot_runs(jobstore=None, pending=None):
            if jobstore == "default":  # the slot comes, and is run and planned on, while the tick reads
                time.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)
                for job_id in triggers:
                    scheduler.modify_job(job_id, jobstore="default", next_run_time=due + every)
            return read(jobstore=jobstore, pending=pending)

        scheduler.get_jobs = read_as_the_slot_runs
        assert store.follow_clock(scheduler) == []
        scheduler.get_jobs = read
        assert {job.id: job.next_run_time for job in scheduler.get_jobs(jobstore="default")} == dict.fromkeys(triggers, due + every)


def test_status_alerts_on_stale_data_whatever_the_job_store_says(tmp_path):
    import contextlib
    import subprocess
    import sys

    from core import runlog
    from core.metastore import connect
    from tests.support.project import ROOT

    settings = job_settings(tmp_path / "data", {"tick": {"task": "hello_world", "every_seconds": 3600}})
    run = runlog.start_run(settings.meta_path, "ingest:shop", trigger="scheduled")
    runlog.finish_run(settings.meta_path, run, "success")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(settings.data_dir), "COLUMNS": "250"})

    def status_after(finished: dt.datetime) -> str:
        with contextlib.closing(connect(settings.meta_path)) as con, con:
            con.execute("UPDATE job_runs SET finished_at = ? WHERE run_id = ?", (finished.isoformat(), run))
        shown = subprocess.run([sys.executable, "-m", "scheduler.cli", "status"], cwd=ROOT, env=environ, capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    now = dt.datetime.now(dt.UTC)
    assert "source_freshness:shop" not in status_after(now - dt.timedelta(hours=1))
    stale = status_after(now - dt.timedelta(days=3))  # no monitor run: the job store kept it two days ahead
    assert "source_freshness:shop" in stale and "72.0 h old (SLA 26 h)" in stale
    ahead = status_after(now + dt.timedelta(days=2))  # written by a run while the clock was two days fast
    assert "source_freshness:shop" in ahead and "in the future (the clock was ahead)" in ahead
