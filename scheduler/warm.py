"""Job processes that start warm: forked from a server that imported the stages' modules once.

A fresh interpreter per job spends seconds importing dlt, SQLMesh, DuckDB and pyarrow before it does
any work. The runner's process starts one fork server (Python's `forkserver`: a clean interpreter,
no threads of the runner) that imports them, and each job attempt is a fork of it: a process of its
own, in its own session, that ends with the attempt. Nothing a job leaves in memory reaches the next
one, and the server itself runs no job, so it does not grow.

The server holds the code as it was when it started. When the platform's code or the installed
packages differ from then, jobs start in a fresh interpreter instead (slower, never stale) until the
scheduler restarts. The settings and the environment travel with every job, so a config reload
needs nothing here.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import sysconfig
import threading
from collections.abc import Callable
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path

log = logging.getLogger("duckstack.scheduler")

ROOT = Path(__file__).resolve().parents[1]
# What every built-in task needs; a job imports anything else (its own task module) itself.
PRELOAD = ["scheduler.worker", "scheduler.tasks", "pipeline.stages", "scheduler.monitor"]

_forked: ForkServerContext = multiprocessing.get_context("forkserver")
_fresh: SpawnContext = multiprocessing.get_context("spawn")
_lock = threading.Lock()
_state: dict[str, str | None] = {"started_with": None, "stale": None}


def fingerprint(root: Path = ROOT) -> str:
    """What the server's imports depend on: the project's Python files and the installed packages."""
    digest = hashlib.sha256()
    packages = sorted(path.parent for path in root.glob("*/__init__.py"))
    for path in sorted(p for package in packages for p in package.rglob("*.py")):
        digest.update(f"{path}:{path.stat().st_mtime_ns}\n".encode())
    site = Path(sysconfig.get_paths()["purelib"])
    digest.update(f"{site}:{site.stat().st_mtime_ns if site.exists() else 0}\n".encode())
    return digest.hexdigest()


def prepare() -> None:
    """Start the server now, so that the first job finds the imports done."""
    with _lock:
        _context()


def start(target: Callable[..., None], args: tuple, name: str) -> BaseProcess:
    """Start `target(*args)` in a job process: forked from the warm server, or fresh when it is out of date."""
    with _lock:
        context = _context()
    process = context.Process(target=target, args=args, name=name)
    process.start()
    return process


def _context() -> ForkServerContext | SpawnContext:
    current = fingerprint()
    if _state["started_with"] is None:
        _forked.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()
        _state["started_with"] = current
    if current == _state["started_with"]:
        return _forked
    if _state["stale"] != current:
        _state["stale"] = current
        log.warning(
            "the platform's code or packages changed since the scheduler started: "
            "jobs start in a fresh interpreter (slower) until it restarts"
        )
    return _fresh
