"""The persistent APScheduler job store (data/scheduler.db) and its snapshot in meta.db `scheduled_jobs`.

Next run times follow the clock: a run planned more than one period ahead of its trigger (written while
the clock was ahead) is planned again from now, at start, at reload and on every tick (`follow_clock`).

The snapshot lets the app and `just status` show next runs without importing
APScheduler; its `paused` flag is the operator's pause, also for jobs that only
run after their upstream jobs (those have no APScheduler entry).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core import metastore
from core.settings import Settings
from scheduler.jobs import JobSpec

FIRE = "scheduler.service:fire"  # a textual reference, so the persistent store can keep it


def store_path(settings: Settings) -> Path:
    return settings.data_dir / "scheduler.db"


def new_scheduler(settings: Settings) -> BackgroundScheduler:
    """The scheduler, configured deliberately (see README, "Scheduler"):

    - coalesce: runs missed while down collapse into one catch-up run;
    - misfire_grace_time: a missed run older than jobs.misfire_grace_seconds is dropped;
    - max_instances=1: a job never overlaps itself.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{store_path(settings)}"), "internal": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(settings.jobs.max_workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(settings.jobs.misfire_grace_seconds)},
        timezone=dt.UTC,
    )


@contextlib.contextmanager
def opened(settings: Settings) -> Iterator[BackgroundScheduler]:
    """The job store through a scheduler that never runs jobs: for the operator commands."""
    scheduler = new_scheduler(settings)
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


def sync_jobs(scheduler: BackgroundScheduler, specs: dict[str, JobSpec], settings: Settings) -> list[str]:
    """Make the store match the job list; unchanged jobs keep their next run time (so missed runs catch up).

    Returns what changed, for the log.
    """
    existing = {job.id: job for job in scheduler.get_jobs(jobstore="default")}
    paused = paused_jobs(settings.meta_path)
    changes = []
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": int(settings.jobs.misfire_grace_seconds)}
    for job_id, spec in specs.items():
        trigger = spec.trigger()
        job = existing.get(job_id)
        if trigger is None:
            if job is not None:
                scheduler.remove_job(job_id, jobstore="default")
                changes.append(f"{job_id}: now runs only after {', '.join(spec.after)}")
            continue
        if job is None:
            scheduler.add_job(FIRE, trigger=trigger, args=[job_id], id=job_id, name=job_id, jobstore="default", **defaults)
            changes.append(f"{job_id}: added ({spec.describe_trigger()})")
        elif str(job.trigger) != str(trigger):
            scheduler.reschedule_job(job_id, jobstore="default", trigger=trigger)
            changes.append(f"{job_id}: rescheduled ({spec.describe_trigger()})")
        else:
            scheduler.modify_job(job_id, jobstore="default", **defaults)
        if job_id in paused:
            scheduler.pause_job(job_id, jobstore="default")
    for job_id in set(existing) - set(specs):
        scheduler.remove_job(job_id, jobstore="default")
        changes.append(f"{job_id}: removed (no longer in config.yaml)")
    changes += follow_clock(scheduler)
    write_snapshot(scheduler, specs, settings)
    return changes


def follow_clock(scheduler: BackgroundScheduler, now: dt.datetime | None = None) -> list[str]:
    """Plan again, from `now`, every job whose next run is more than one period ahead of its trigger: the
    store kept it from a run while the clock was ahead. Returns what changed, for the log.

    The clock is read after the jobs: a run the scheduler's thread plans while they are read is then not
    taken for one planned ahead of the clock (a cron job would run its slot twice)."""
    changes = []
    for alias in ("default", "internal"):
        jobs = scheduler.get_jobs(jobstore=alias)
        at = now or dt.datetime.now(dt.UTC)
        for job in jobs:
            planned, trigger = job.next_run_time, job.trigger
            if planned is None:  # paused
                continue
            if isinstance(trigger, IntervalTrigger) and planned > at + trigger.interval:
                fresh = IntervalTrigger(seconds=trigger.interval_length, timezone=trigger.timezone, start_date=at + trigger.interval)
                scheduler.reschedule_job(job.id, jobstore=alias, trigger=fresh)
            elif isinstance(trigger, CronTrigger):
                first = trigger.get_next_fire_time(None, at)
                second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1)) if first is not None else None
                if first is None or second is None or planned < second:
                    continue
                scheduler.modify_job(job.id, jobstore=alias, next_run_time=first)
            else:
                continue
            changes.append(f"{job.id}: next run was {planned.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC, ahead of the clock; planned again")
    return changes


def write_snapshot(scheduler: BackgroundScheduler, specs: dict[str, JobSpec], settings: Settings) -> None:
    """Replace `scheduled_jobs` with the store's next run times and the pause flags."""
    stored = {job.id: job for job in scheduler.get_jobs(jobstore="default")}
    paused = paused_jobs(settings.meta_path)
    rows = []
    for job_id, spec in specs.items():
        job = stored.get(job_id)
        next_run = job.next_run_time.astimezone(dt.UTC).isoformat() if job and job.next_run_time else None
        rows.append((job_id, next_run, int(job_id in paused), spec.describe_trigger()))
    with contextlib.closing(metastore.connect(settings.meta_path)) as con, con:
        con.execute("DELETE FROM scheduled_jobs")
        con.executemany("INSERT INTO scheduled_jobs VALUES (?, ?, ?, ?)", rows)


def set_paused(scheduler: BackgroundScheduler, specs: dict[str, JobSpec], settings: Settings, job_id: str, paused: bool) -> None:
    """Pause or resume one job in the store and in the snapshot; a running scheduler sees it at its next poll."""
    if scheduler.get_job(job_id, jobstore="default") is not None:
        if paused:
            scheduler.pause_job(job_id, jobstore="default")
        else:
            scheduler.resume_job(job_id, jobstore="default")
    with contextlib.closing(metastore.connect(settings.meta_path)) as con, con:
        con.execute("INSERT OR IGNORE INTO scheduled_jobs (job_id, paused) VALUES (?, 0)", (job_id,))
        con.execute("UPDATE scheduled_jobs SET paused = ? WHERE job_id = ?", (int(paused), job_id))
    write_snapshot(scheduler, specs, settings)


def paused_jobs(meta_path: Path) -> set[str]:
    with contextlib.closing(metastore.connect(meta_path)) as con:
        return {job_id for (job_id,) in con.execute("SELECT job_id FROM scheduled_jobs WHERE paused = 1")}


def is_paused(meta_path: Path, job_id: str) -> bool:
    return job_id in paused_jobs(meta_path)


def snapshot(meta_path: Path) -> list[dict]:
    if not meta_path.exists():
        return []
    with contextlib.closing(metastore.connect(meta_path)) as con:
        rows = con.execute("SELECT job_id, next_run_at, paused, trigger FROM scheduled_jobs ORDER BY job_id").fetchall()
    return [dict(zip(("job_id", "next_run_at", "paused", "trigger"), row, strict=True)) for row in rows]
