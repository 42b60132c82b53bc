"""One job attempt in its own process, so that a hung job can be stopped for real.

The runner starts `attempt_in_process` in a process forked from its warm server (scheduler/warm.py):
the settings and the job come as arguments, output goes to the job's log, the outcome to
RESULT_FILE. `python -m scheduler.worker RESULT_FILE RUNNER_PID` runs the same attempt in a fresh
interpreter, the settings and job read from stdin.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pydantic import SecretStr

from core.errors import PartialFailure, PlatformError, describe_error
from core.lock import describe_holder, writer_lock
from core.settings import Settings
from scheduler.logs import configure as configure_logging
from scheduler.tasks import TaskResult, resolve


def run(payload: dict) -> dict:
    """Run the job described by `payload` and return its outcome."""
    settings = Settings.model_validate_json(payload["settings"])
    # A settings dump masks its secrets: they come beside it, as the runner read them at startup.
    settings = settings.model_copy(update={"secrets": {k: SecretStr(v) for k, v in payload.get("secrets", {}).items()}})
    configure_logging(settings.data_dir, console=True)
    job = payload["job"]
    function = resolve(job["task"])
    if job["writes"]:
        waiting = lambda holder: print(f"waiting for the writer lock ({describe_holder(holder)})", flush=True)
        with writer_lock(
            settings.data_dir, purpose=f"scheduled job {job['job_id']}", wait_seconds=settings.run.lock_wait_seconds, on_wait=waiting
        ):
            outcome = function(settings, **job["args"])
    else:
        outcome = function(settings, **job["args"])
    if isinstance(outcome, TaskResult):
        return asdict(outcome)
    return dict(outcome or {})


PARENT_POLL_SECONDS = 0.2
ORPHAN_GRACE_SECONDS = 0.6  # with the poll, gone within a second of its parent


def die_with_parent(parent: int) -> None:
    """End this worker when the process that started it (pid `parent`) is gone."""

    def gone() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)

    die_when(gone)


def die_when(gone: Callable[[], None]) -> None:
    """End this worker once `gone()` returns (it waits for the runner to be gone: a scheduler or `just
    trigger` killed with -9 cannot stop it): SIGTERM first, so locks and `finally` blocks unwind, then
    exit for sure.

    A worker runs in its own session so that a terminal's Ctrl-C reaches the runner, which gives it a
    grace period; without this, it would outlive its runner and keep the writer lock."""

    def watch() -> None:
        gone()
        print("error: the scheduler that started this job is gone; stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(143)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def attempt(payload: dict, result_path: Path) -> int:
    """Run the job, write its outcome to `result_path`; the exit code (0: success)."""
    try:
        outcome = {"status": "success", **run(payload)}
    except PlatformError as exc:
        outcome = {"status": "partial" if isinstance(exc, PartialFailure) else "failed", "error": str(exc)}
        print(f"error: {exc}", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - any failure of a job is reported, not raised
        # the stack goes to the job's log; the message only without the data values a library may quote
        traceback.print_tb(exc.__traceback__)
        outcome = {"status": "failed", "error": describe_error(exc)}
        print(f"error: {outcome['error']}", file=sys.stderr, flush=True)
    result_path.write_text(json.dumps(outcome))
    return 0 if outcome["status"] == "success" else 1


def _stop_on_sigterm() -> None:
    # The runner stops a job with SIGTERM: turn it into an exception so `finally` blocks and locks unwind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def attempt_in_process(payload: str, environ: dict[str, str], result_file: str, log_file: str, cwd: str) -> None:
    """The job process the runner starts: its own session, the runner's environment and working folder as
    they are now, output to the job's log, gone with the runner."""
    os.setsid()
    os.environ.clear()
    os.environ.update(environ)
    sys.stdout.flush()
    sys.stderr.flush()
    out = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.chdir(cwd)
    _stop_on_sigterm()
    runner = multiprocessing.parent_process()
    assert runner is not None, "started by the runner through multiprocessing"
    die_when(runner.join)  # returns when the runner's end of the pipe closes: it ended
    sys.exit(attempt(json.loads(payload), Path(result_file)))


def main(result_file: str, parent: int) -> int:
    _stop_on_sigterm()
    die_with_parent(parent)
    return attempt(json.loads(sys.stdin.read()), Path(result_file))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else os.getppid()))
