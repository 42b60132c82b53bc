"""Job processes that start warm: forked from a server that imported the stages' modules once.

A fresh interpreter per job spends seconds importing dlt, SQLMesh, DuckDB and pyarrow before it does
any work. The runner's process starts one fork server (Python's `forkserver`: a clean interpreter,
no threads of the runner) that imports them, and each job attempt is a fork of it: a process of its
own, in its own session, that ends with the attempt. Nothing a job leaves in memory reaches the next
one, and the server itself runs no job, so it does not grow. Until the server has its imports done
(seconds after the scheduler starts), a job of the stages waits for it (it would spend the same
importing them itself) and any other job starts in a fresh interpreter (`python -m
scheduler.worker`, which imports only what its task needs), as it would without the server.

The server holds the code as it was when it started. When the platform's code or the installed
packages differ from then, jobs start in a fresh interpreter instead (slower, never stale) until the
scheduler restarts. The settings and the environment travel with every job, so a config reload
needs nothing here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import subprocess
import sys
import sysconfig
import threading
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Protocol

from scheduler import worker

log = logging.getLogger("duckstack.scheduler")

ROOT = Path(__file__).resolve().parents[1]
# What every built-in task needs; a job imports anything else (its own task module) itself.
PRELOAD = ["scheduler.worker", "scheduler.tasks", "pipeline.stages", "scheduler.monitor"]

_forked: ForkServerContext = multiprocessing.get_context("forkserver")
_lock = threading.Lock()
_state: dict[str, str | None] = {"started_with": None, "stale": None}
_ready = threading.Event()  # set once a first fork of the server came back: its imports are done
_settled = threading.Event()  # set once that first fork came back or failed
WAIT_SECONDS = 300  # the longest a job of the stages waits for the server's imports


class JobProcess(Protocol):
    """What the runner uses of a job process, forked or fresh."""

    @property
    def pid(self) -> int | None: ...

    @property
    def exitcode(self) -> int | None: ...

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...

    def close(self) -> None: ...


class FreshProcess:
    """A job attempt in a fresh interpreter: `python -m scheduler.worker RESULT_FILE RUNNER_PID`, settings on stdin."""

    def __init__(self, payload: str, result_file: str, log_file: str, cwd: str) -> None:
        with open(log_file, "a") as out:
            self._popen = subprocess.Popen(
                [sys.executable, "-m", "scheduler.worker", result_file, str(os.getpid())],
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        assert self._popen.stdin is not None  # stdin=PIPE
        self._popen.stdin.write(payload)
        self._popen.stdin.close()

    @property
    def pid(self) -> int | None:
        return self._popen.pid

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    def close(self) -> None:
        pass


def fingerprint(root: Path = ROOT) -> str:
    """What the server's imports depend on: the project's Python files and the installed packages."""
    digest = hashlib.sha256()
    packages = sorted(path.parent for path in root.glob("*/__init__.py"))
    for path in sorted(p for package in packages for p in package.rglob("*.py")):
        digest.update(f"{path}:{path.stat().st_mtime_ns}\n".encode())
    # The installed distributions by name and version (a dist-info folder each): the bytecode a first
    # import writes into the folder changes no code.
    site = Path(sysconfig.get_paths()["purelib"])
    for installed in sorted(site.glob("*.dist-info")):
        digest.update(f"{installed.name}\n".encode())
    return digest.hexdigest()


def prepare(output: Path) -> None:
    """Start the server in the background, its output to the file `output`; jobs started before its
    imports are done start fresh meanwhile."""
    with _lock:
        if _state["started_with"] is not None:
            return
        _state["started_with"] = fingerprint()
        # A forked job runs the body of this process's main module again (multiprocessing's rule): its imports come preloaded too.
        main = getattr(sys.modules["__main__"].__spec__, "name", None)
        extra = [main] if main and not main.endswith("__main__") else []
        _forked.set_forkserver_preload(PRELOAD + extra)
        # The server inherits this process's stdout and stderr: not a pipe that a reader of this process's
        # output waits on until the server ends, but a file of its own.
        output.parent.mkdir(parents=True, exist_ok=True)
        saved = os.dup(1), os.dup(2)
        target = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.dup2(target, 1)
            os.dup2(target, 2)
            forkserver.ensure_running()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in (*saved, target):
                os.close(fd)
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()


def ready(timeout: float | None = None) -> bool:
    """Whether the server has its imports done, waiting up to `timeout` seconds for it."""
    return _ready.wait(timeout)


def start(payload: str, result_file: str, log_file: str, cwd: str, name: str, *, stages: bool) -> JobProcess:
    """Start a job attempt: forked from the warm server, or fresh when it is out of date. A job of the
    `stages` waits for the server's imports, which it would do itself; any other starts fresh meanwhile."""
    if stages and _state["started_with"] is not None:
        _settled.wait(WAIT_SECONDS)
    with _lock:
        warm = _usable() and not _main_from_path()
    if not warm:
        return FreshProcess(payload, result_file, log_file, cwd)
    process = _forked.Process(target=worker.attempt_in_process, args=(payload, dict(os.environ), result_file, log_file, cwd), name=name)
    process.start()
    return process


def _warm_up() -> None:
    try:
        process = _forked.Process(target=_nothing, name="warm-up", daemon=True)  # never waited for at exit
        process.start()  # the server answers once its imports are done
        process.join()
        process.close()
        _ready.set()
    except Exception:  # noqa: BLE001 - jobs then start fresh; the server's own output says why
        log.exception("the scheduler's warm server did not start: jobs start in a fresh interpreter")
    finally:
        _settled.set()


def _nothing() -> None:
    pass


def _main_from_path() -> bool:
    """Whether this process's main module is a script run from its path (not `-m`): multiprocessing
    would run that script again in every forked job (an app page, say, in a process that ran one)."""
    main = sys.modules.get("__main__")
    return getattr(getattr(main, "__spec__", None), "name", None) is None and getattr(main, "__file__", None) is not None


def _usable() -> bool:
    if _state["started_with"] is None or not _ready.is_set():
        return False
    current = fingerprint()
    if current == _state["started_with"]:
        return True
    if _state["stale"] != current:
        _state["stale"] = current
        log.warning(
            "the platform's code or packages changed since the scheduler started: "
            "jobs start in a fresh interpreter (slower) until it restarts"
        )
    return False
