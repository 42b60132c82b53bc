"""The scheduler service (`just serve`): one per data folder, jobs from config.yaml, graceful stop."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.background import BackgroundScheduler

from core import accesslog, runlog
from core.errors import PlatformError
from core.settings import Settings
from scheduler import alerts, logs, monitor, store
from scheduler.jobs import JobSpec, job_specs
from scheduler.runner import Runner, collect_results

log = logging.getLogger("duckstack.scheduler")

PRUNE_EVERY_SECONDS = 3600
_active: Service | None = None  # the running service in this process; APScheduler calls `fire` by name


def fire(job_id: str) -> None:
    """What the job store calls when a job is due."""
    if _active is None:
        raise RuntimeError("no scheduler service is running in this process")
    assert _active.runner is not None, "start() sets the runner before the service is active"
    _active.runner.run(job_id, "scheduled")


def lock_path(data_dir: Path) -> Path:
    return data_dir / ".scheduler.lock"


def running_scheduler(data_dir: Path) -> dict | None:
    """The scheduler holding `data_dir`, as it described itself, or None when there is none."""
    path = lock_path(data_dir)
    if not path.exists():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                return json.loads(handle.read() or "{}")
            except json.JSONDecodeError:
                return {}
    return None


class Service:
    """The scheduler on one data folder. `start()`/`stop()` for tests and embedding, `serve()` for the CLI."""

    def __init__(self, settings: Settings, reload_settings: Callable[[], Settings] | None = None) -> None:
        self.settings = settings
        self.reload_settings = reload_settings
        self.stopping = threading.Event()
        self._lock_handle: IO[str] | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.specs: dict[str, JobSpec] = {}
        self.runner: Runner | None = None
        self._pruned_at = 0.0
        self._ticked_at = 0.0

    def start(self) -> None:
        global _active
        self._take_lock()
        try:
            alerts.check_channels(self.settings)
            self.specs = job_specs(self.settings)
            finished = collect_results(self.settings)
            if finished:
                log.warning("recorded %d run(s) that finished while their scheduler was down, from their result files", finished)
            orphans = runlog.close_orphans(self.settings.meta_path)
            if orphans:
                log.warning("marked %d run(s) left 'running' by a stopped process as interrupted", orphans)
            self.prune_history()
            self.runner = Runner(self.settings, self.specs, self.stopping)
            _active = self
            scheduler = self.scheduler = store.new_scheduler(self.settings)
            scheduler.add_listener(self._not_run, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
            scheduler.start(paused=True)
            for change in store.sync_jobs(scheduler, self.specs, self.settings):
                log.info("job store: %s", change)
            scheduler.add_job(self._heartbeat, "interval", seconds=self.settings.jobs.poll_seconds, id="_heartbeat", jobstore="internal")
            scheduler.resume()
        except BaseException:
            if self.scheduler is not None and self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            _active = None
            self._release_lock()
            raise
        log.info("scheduler started on %s with %d jobs (pid %d)", self.settings.data_dir, len(self.specs), os.getpid())

    def reload(self) -> None:
        """Re-read config.yaml and make the job store match it; a bad config keeps the old jobs."""
        if self.reload_settings is None:
            return
        try:
            settings = self.reload_settings()
            specs = job_specs(settings)
            alerts.check_channels(settings)
        except PlatformError as exc:
            log.error("reload refused, keeping the current jobs: %s", exc)
            return
        assert self.runner is not None and self.scheduler is not None, "reload() runs after start()"
        self.settings, self.specs = settings, specs
        self.runner.update(settings, specs)
        changes = store.sync_jobs(self.scheduler, specs, settings)
        log.info("config reloaded: %s", "; ".join(changes) or "no schedule changes")

    def stop(self) -> None:
        """Stop: no new runs; a running job gets jobs.shutdown_grace_seconds, then is recorded as interrupted."""
        global _active
        self.stopping.set()
        if self.scheduler is not None:
            self.scheduler.pause()
            store.write_snapshot(self.scheduler, self.specs, self.settings)
            self.scheduler.shutdown(wait=True)
        _active = None
        self._release_lock()
        log.info("scheduler stopped")

    def serve(self) -> None:
        """Run until SIGTERM or Ctrl-C; SIGHUP reloads config.yaml."""
        stop_requested, reload_requested = threading.Event(), threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
        signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
        signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())
        self.start()
        try:
            while not stop_requested.wait(0.5):
                if reload_requested.is_set():
                    reload_requested.clear()
                    self.reload()
                if time.monotonic() - self._ticked_at >= self.settings.jobs.poll_seconds:
                    self.tick()
        finally:
            log.info("stop requested: waiting up to %g s for running jobs", self.settings.jobs.shutdown_grace_seconds)
            self.stop()

    def prune_history(self) -> None:
        self._pruned_at = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        cutoff = now - dt.timedelta(days=self.settings.jobs.history_days)
        removed = runlog.prune(self.settings.meta_path, cutoff)
        monitor.prune(self.settings.meta_path, cutoff)
        alerts.prune(self.settings.meta_path, cutoff)
        accesslog.prune(self.settings.meta_path, now - dt.timedelta(days=self.settings.jobs.access_log_days))
        logs.rotate(self.settings.data_dir)
        if removed:
            log.info("history retention: removed %d run(s) older than %g days", removed, self.settings.jobs.history_days)

    def tick(self) -> None:
        """Every poll: next runs planned ahead of the clock are planned again. Not a job of the store: a
        clock set back leaves every job, the heartbeat too, waiting for the time it was ahead by."""
        assert self.scheduler is not None, "tick() runs after start()"
        self._ticked_at = time.monotonic()
        changes = store.follow_clock(self.scheduler)
        for change in changes:
            log.warning("job store: %s", change)
        if changes:
            store.write_snapshot(self.scheduler, self.specs, self.settings)

    def _not_run(self, event: JobEvent) -> None:
        """A due run the job store did not start goes into the run history as missed, with why."""
        if self.runner is None or event.job_id not in self.specs:
            return
        if event.code == EVENT_JOB_MAX_INSTANCES:
            reason = "its previous run was still in progress; max_instances is 1"
        else:
            reason = f"missed by more than jobs.misfire_grace_seconds ({self.settings.jobs.misfire_grace_seconds:g} s)"
        self.runner.skip(event.job_id, "scheduled", reason, status="missed")

    def _heartbeat(self) -> None:
        assert self.scheduler is not None, "the heartbeat is a job of the running scheduler"
        self.tick()
        store.write_snapshot(self.scheduler, self.specs, self.settings)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self.prune_history()

    def _take_lock(self) -> None:
        path = lock_path(self.settings.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            holder = running_scheduler(self.settings.data_dir) or {}
            raise PlatformError(
                f"Another scheduler is already running on {self.settings.data_dir} "
                f"(pid {holder.get('pid', '?')}, since {holder.get('started_at', '?')}). "
                "Only one may run per data folder; stop it with `just stop`, or use `just status`."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        handle.flush()
        self._lock_handle = handle

    def _release_lock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
