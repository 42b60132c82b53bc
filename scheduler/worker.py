"""One job attempt in its own process, so that a hung job can be stopped for real.

The runner starts `python -m scheduler.worker RESULT_FILE RUNNER_PID`, writes the settings and
the job to stdin, and reads the outcome from RESULT_FILE. Output goes to the job's log.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from pydantic import SecretStr

from core.errors import PlatformError, describe_error
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


PARENT_POLL_SECONDS = 0.5
ORPHAN_GRACE_SECONDS = 10


def die_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (a scheduler or `just trigger` killed
    with -9 cannot stop it): SIGTERM first, so locks and `finally` blocks unwind, then exit for sure.

    A worker runs in its own session so that a terminal's Ctrl-C reaches the runner, which gives it a
    grace period; without this, it would outlive its runner and keep the writer lock."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        print("error: the scheduler that started this job is gone; stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(143)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def main(result_file: str, parent: int) -> int:
    # The runner stops a job with SIGTERM: turn it into an exception so `finally` blocks and locks unwind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    die_with_parent(parent)
    result_path = Path(result_file)
    try:
        outcome = {"status": "success", **run(json.loads(sys.stdin.read()))}
    except PlatformError as exc:
        outcome = {"status": "failed", "error": str(exc)}
        print(f"error: {exc}", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - any failure of a job is reported, not raised
        # the stack goes to the job's log; the message only without the data values a library may quote
        traceback.print_tb(exc.__traceback__)
        outcome = {"status": "failed", "error": describe_error(exc)}
        print(f"error: {outcome['error']}", file=sys.stderr, flush=True)
    result_path.write_text(json.dumps(outcome))
    return 0 if outcome["status"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else os.getppid()))
