"""Run a job the way the scheduler does: child process, timeout, retries with backoff, run log,
alert after the last attempt, then the jobs that depend on it (or their skips)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

from core import runlog
from core.settings import Settings
from scheduler import alerts, store, warm
from scheduler.jobs import JobSpec

log = logging.getLogger("duckstack.scheduler")

REPO_ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.1
KILL_GRACE_SECONDS = 5
STAGE_TASKS = ("ingest", "transform", "publish", "monitor")  # the built-in tasks that need the warm server's imports
DONE = ("success", "partial")  # ended with output for the jobs after it (a partial run is alerted, too)


def job_log_path(settings: Settings, job_id: str) -> Path:
    return settings.data_dir / "logs" / "jobs" / f"{job_id.replace(':', '__')}.log"


class Runner:
    """Runs jobs of one job list; `stopping` ends waits and gives a running attempt its grace period."""

    def __init__(self, settings: Settings, specs: dict[str, JobSpec], stopping: threading.Event | None = None) -> None:
        self.settings = settings
        self.specs = specs
        self.stopping = stopping or threading.Event()
        self._busy: dict[str, threading.Lock] = {job_id: threading.Lock() for job_id in specs}
        # jobs asked to run while they ran: each runs once more when its run ends (its upstream may have
        # finished after it read that upstream's output). Guards `_again` and each release of `_busy`.
        self._again: set[str] = set()
        self._asked = threading.Lock()
        warm.prepare(settings.data_dir / "logs" / "warm-server.log")  # its imports load while this process goes on

    def update(self, settings: Settings, specs: dict[str, JobSpec]) -> None:
        """Switch to a reloaded config; runs in progress finish with the job they started."""
        self.settings, self.specs = settings, specs
        for job_id in specs:
            self._busy.setdefault(job_id, threading.Lock())

    def run(self, job_id: str, trigger: str = "scheduled", *, retries: bool = True, cascade: bool = True, alert: bool = True) -> str:
        """Run `job_id` to its final status ('success', 'partial', 'failed', 'timed_out', 'interrupted', 'skipped' or
        'missed' when a run of it is already in progress: that run then runs it once more when it ends, so
        that what it makes reflects what finished while it ran, such as a second upstream's load).

        A partial run (a load of every table but the ones that failed) is alerted like a failure, and its
        dependants run like after a success: what it loaded reaches the marts, and the alert says what did not."""
        spec = self.specs[job_id]
        busy = self._busy[job_id]
        with self._asked:
            taken = busy.acquire(blocking=False)
            if not taken:
                self._again.add(job_id)
        if not taken:
            self.skip(job_id, trigger, "already running (max_instances is 1); it runs again once that run ends", status="missed")
            return "missed"
        held = True
        try:
            while held:
                status, error = self._attempts(spec, trigger, retries=retries)
                with self._asked:  # decided and released at once: a request that comes later finds it free
                    again = job_id in self._again and status in DONE and not self.stopping.is_set()
                    self._again.discard(job_id)
                    if not again:
                        busy.release()
                        held = False
                if again:
                    log.info("job %s runs again: it was asked to while it ran", job_id, extra={"job": job_id})
        finally:
            if held:
                with self._asked:
                    self._again.discard(job_id)
                    busy.release()
        if alert and status == "success":
            alerts.clear_alert(self.settings, f"job:{job_id}", f"Job {job_id} succeeded again.")
        elif alert and status == "partial":
            alerts.raise_alert(
                self.settings, f"job:{job_id}", f"Job {job_id} partly failed (the jobs after it run on what it did): {error}"
            )
        elif alert and status != "interrupted":
            tries = spec.retries + 1 if retries else 1
            alerts.raise_alert(self.settings, f"job:{job_id}", f"Job {job_id} {status.replace('_', ' ')} after {tries} attempt(s): {error}")
        if cascade and status in DONE:
            self._run_dependants(spec, trigger)
        elif cascade and status != "interrupted":
            self._skip_dependants(spec, trigger, f"upstream {job_id} {status.replace('_', ' ')}")
        return status

    def _attempts(self, spec: JobSpec, trigger: str, *, retries: bool) -> tuple[str, str | None]:
        last = spec.retries + 1 if retries else 1
        status, error = "failed", None
        for attempt in range(1, last + 1):
            run_id = runlog.start_run(self.settings.meta_path, spec.job_id, trigger=trigger if attempt == 1 else "retry", attempt=attempt)
            log.info(
                "job %s started (attempt %d of %d, %s)", spec.job_id, attempt, last, trigger, extra={"job": spec.job_id, "run_id": run_id}
            )
            status, outcome = self._attempt(spec, run_id, attempt)
            error = outcome.get("error")
            runlog.finish_run(
                self.settings.meta_path, run_id, status, rows_in=outcome.get("rows_in"), rows_out=outcome.get("rows_out"), error=error
            )
            log.log(
                logging.INFO if status == "success" else logging.ERROR,
                "job %s %s%s",
                spec.job_id,
                status,
                f": {error}" if error else "",
                extra={"job": spec.job_id, "run_id": run_id, "status": status},
            )
            if status in (*DONE, "interrupted") or attempt == last:  # a partial run's failed part fails again: no retry
                break
            backoff = spec.retry_backoff_seconds * 2 ** (attempt - 1)
            log.info("job %s retries in %.1f s", spec.job_id, backoff, extra={"job": spec.job_id})
            if self.stopping.wait(backoff):
                return "interrupted", "the scheduler stopped before the retry"
        return status, error

    def _attempt(self, spec: JobSpec, run_id: int, attempt: int) -> tuple[str, dict]:
        """One attempt in a job process of its own: (status, outcome with rows and error)."""
        log_path = job_log_path(self.settings, spec.job_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        result_path = result_file(self.settings, run_id)
        result_path.parent.mkdir(parents=True, exist_ok=True)
        payload = worker_payload(self.settings, _job_payload(spec))
        with open(log_path, "a") as out:
            out.write(f"--- run {run_id}, attempt {attempt}, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
        stages = spec.task in STAGE_TASKS
        child = warm.start(payload, str(result_path), str(log_path), str(REPO_ROOT), name=f"job {spec.job_id}", stages=stages)
        try:
            ended = self._wait(child, spec)
            if ended is not None:
                return ended
            if result_path.exists():
                outcome = json.loads(result_path.read_text())
                return outcome.pop("status"), outcome
            return "failed", {"error": f"the job process exited with code {child.exitcode}; see {log_path}"}
        finally:
            if child.exitcode is not None:  # else an exception cut the wait short: the job ends with this process at the latest
                child.close()
            result_path.unlink(missing_ok=True)

    def _wait(self, child: warm.JobProcess, spec: JobSpec) -> tuple[str, dict] | None:
        """Wait for the child; stop it at its timeout, or after the shutdown grace. None when it ended by itself."""
        deadline = time.monotonic() + spec.timeout_seconds
        stop_by = None
        while child.is_alive():
            now = time.monotonic()
            if stop_by is None and self.stopping.is_set():
                grace = self.settings.jobs.shutdown_grace_seconds
                stop_by = now + grace
                log.warning("shutting down: job %s may finish within %g s", spec.job_id, grace, extra={"job": spec.job_id})
            if stop_by is not None and now >= stop_by:
                _terminate(child)
                return "interrupted", {"error": "stopped by a scheduler shutdown after the grace period"}
            if now >= deadline:
                _terminate(child)
                return "timed_out", {"error": f"still running after its timeout of {spec.timeout_seconds:g} s; stopped"}
            child.join(POLL_SECONDS)
        child.join()
        return None

    def _run_dependants(self, spec: JobSpec, trigger: str) -> None:
        for dependant in spec.dependants:
            if self.stopping.is_set():
                return
            self._consider(dependant, trigger)

    def _consider(self, job_id: str, trigger: str) -> None:
        """Start `job_id` after an upstream ended, if its trigger rule lets it; skip it (and what follows it) if
        its upstreams' last runs rule it out; leave it to the last upstream still running."""
        if store.is_paused(self.settings.meta_path, job_id):
            self.skip(job_id, trigger, "paused")
            return
        waiting, blocked = self._upstream_state(job_id)
        if waiting:
            return  # the last upstream to finish starts it
        if blocked:
            self.skip(job_id, trigger, blocked)
            self._skip_dependants(self.specs[job_id], trigger, f"upstream {job_id} skipped")
            return
        self.run(job_id, trigger)

    def _upstream_state(self, job_id: str) -> tuple[bool, str | None]:
        """(whether an upstream is still running, why the job may not start, if it may not)."""
        latest = runlog.latest_per_job(self.settings.meta_path)
        waiting, blocked, done = False, [], False
        for upstream in self.specs[job_id].after:
            status = latest.get(upstream, {}).get("status")
            if status == "running":
                waiting = True
            elif status is None:
                blocked.append(f"upstream {upstream} has never run")
            elif status not in DONE:
                blocked.append(f"upstream {upstream} {status.replace('_', ' ')}")
            else:
                done = True
        if self.specs[job_id].trigger_rule == "one_success":
            return waiting, None if done else "no upstream succeeded: " + "; ".join(blocked)
        return waiting, "; ".join(blocked) or None

    def _skip_dependants(self, spec: JobSpec, trigger: str, reason: str) -> None:
        """After `spec` failed or was skipped: skip what needs every upstream; what needs one (`one_success`)
        starts on its other upstreams' output, if it may."""
        for dependant in spec.dependants:
            if self.specs[dependant].trigger_rule == "one_success":
                if not self.stopping.is_set():
                    self._consider(dependant, trigger)
                continue
            self.skip(dependant, trigger, reason)
            self._skip_dependants(self.specs[dependant], trigger, f"upstream {dependant} skipped")

    def skip(self, job_id: str, trigger: str, reason: str, *, status: str = "skipped") -> None:
        """Record a run of `job_id` that did not happen, with why, in the run history: 'skipped' for a
        reason of its own or of its upstream, 'missed' for a planned run that did not start."""
        run_id = runlog.start_run(self.settings.meta_path, job_id, trigger=trigger, status=status)
        runlog.finish_run(self.settings.meta_path, run_id, status, error=reason)
        log.warning("job %s %s: %s", job_id, status, reason, extra={"job": job_id, "status": status})


def result_file(settings: Settings, run_id: int) -> Path:
    """Where a job attempt's worker writes its outcome; the runner reads and removes it."""
    return settings.data_dir / "run" / f"result-{run_id}.json"


def collect_results(settings: Settings) -> int:
    """Close the run rows whose runner was killed after its worker finished, with the outcome the worker
    wrote (a job that succeeded is not recorded `interrupted`); remove every result file left. Returns
    the rows closed. Run at scheduler start, before the rows left `running` are marked interrupted."""
    folder = settings.data_dir / "run"
    running = {run["run_id"]: run for run in runlog.last_runs(settings.meta_path, 1000) if run["status"] == "running"}
    closed = 0
    for path in sorted(folder.glob("result-*.json")) if folder.exists() else []:
        run_id = path.stem.removeprefix("result-")
        run = running.get(int(run_id)) if run_id.isdigit() else None
        if run is not None and run.get("pid") and runlog.is_alive(run["pid"]):
            continue  # its runner is still at work and reads the file itself
        try:
            outcome = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            outcome = None
        if run is not None and isinstance(outcome, dict) and outcome.get("status") in runlog.STATUSES:
            error = outcome.get("error")
            runlog.finish_run(
                settings.meta_path,
                run["run_id"],
                outcome["status"],
                rows_in=outcome.get("rows_in"),
                rows_out=outcome.get("rows_out"),
                error=error,
            )
            closed += 1
        path.unlink(missing_ok=True)
    return closed


def worker_payload(settings: Settings, job: dict) -> str:
    """What a worker reads on stdin: the settings, the secrets they name (a dump masks them), the job.

    The pipe is the only place the secrets travel; nothing writes the payload down.
    """
    secrets = {name: value.get_secret_value() for name, value in settings.secrets.items()}
    return json.dumps({"settings": settings.model_dump_json(), "secrets": secrets, "job": job})


def _job_payload(spec: JobSpec) -> dict:
    return {"job_id": spec.job_id, "task": spec.task, "args": spec.args, "writes": spec.writes}


def _terminate(child: warm.JobProcess) -> None:
    """SIGTERM the job's whole process group, then SIGKILL what is left after a few seconds."""
    _signal(child, signal.SIGTERM)
    child.join(KILL_GRACE_SECONDS)
    if child.exitcode is None:
        _signal(child, signal.SIGKILL)
        child.join()


def _signal(child: warm.JobProcess, signum: int) -> None:
    assert child.pid is not None, "a started process"
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:  # not yet in its own session (or already gone): the process alone
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)
