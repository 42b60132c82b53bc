"""Small tasks for the scheduler tests, configured as `tests.support.scheduler_tasks:<name>` jobs.

They run in the scheduler's real worker processes; files are how they report back.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from core.errors import PartialFailure, PlatformError


def append(settings, name: str, path: str) -> dict:
    """Note that job `name` ran, with a timestamp."""
    with open(path, "a") as handle:
        handle.write(f"{name} {time.time()}\n")
    return {"rows_out": 1}


def flaky(settings, counter: str, fail_times: int) -> dict:
    """Fail the first `fail_times` calls, then succeed."""
    path = Path(counter)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls <= fail_times:
        raise PlatformError(f"flaky failure {calls} of {fail_times}")
    return {"rows_in": 7, "rows_out": 5}


def fail(settings) -> None:
    raise PlatformError("the source said no")


def partly(settings, counter: str) -> None:
    """Do part of the work (count the call), then fail the rest."""
    path = Path(counter)
    path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))
    raise PartialFailure("loaded every table but t3, whose rows failed their contract")


def sleep(settings, seconds: float, marker: str) -> dict:
    """Write this process's pid to `marker`, then sleep."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return {"rows_out": 1}


def span(settings, name: str, path: str, fail_times: int = 0, marker: str | None = None, release: str | None = None) -> dict:
    """Note when this run started and ended; fail the first `fail_times` calls.

    `marker`, if given, is written when the run starts; with `release`, the run lasts until that file exists."""
    if marker:
        Path(marker).write_text(str(os.getpid()))
    calls_file = Path(f"{path}.{name}.calls")
    calls = int(calls_file.read_text()) + 1 if calls_file.exists() else 1
    calls_file.write_text(str(calls))
    started = time.time()
    deadline = started + 120
    while release and not Path(release).exists() and time.time() < deadline:
        time.sleep(0.05)
    with open(path, "a") as handle:
        handle.write(f"{name} {started} {time.time()}\n")
    if calls <= fail_times:
        raise PlatformError(f"{name} failed on call {calls} of {fail_times}")
    return {"rows_out": 1}


def busy(settings, marker: str) -> dict:
    """Write this process's pid to `marker`, then compute in DuckDB for minutes: Python signal handlers wait for it."""
    import duckdb

    Path(marker).write_text(str(os.getpid()))
    with duckdb.connect() as con:
        con.execute("SET threads = 1")
        con.execute("SELECT sum(hash(range)) FROM range(1000000000000)").fetchall()
    return {"rows_out": 1}


_CALLS = []  # what this process remembers of the jobs it ran


def probe(settings, path: str, variable: str) -> dict:
    """Note what the job's process started with: the stages' modules loaded, earlier calls, an environment variable."""
    import sys

    _CALLS.append(path)
    facts = {
        "preloaded": sorted(name for name in ("dlt", "sqlmesh", "duckdb", "pipeline.stages") if name in sys.modules),
        "calls": len(_CALLS),
        "variable": os.environ.get(variable),
        "pid": os.getpid(),
    }
    with open(path, "a") as handle:
        handle.write(json.dumps(facts) + "\n")
    return {"rows_out": 1}


def stage(settings, name: str, folder: str, inputs: list[str], seconds: float, fail_every: int = 0) -> dict:
    """A stage of a pipeline: read the version of each upstream's output as it starts (as a build reads raw when
    it plans), work `seconds`, then write its own output, `<folder>/<name>.json`: its next version and what it read.
    With `fail_every`, every such call fails instead, writing nothing."""
    base = Path(folder)
    read = {upstream: _version(base / f"{upstream}.json") for upstream in inputs}
    time.sleep(seconds)
    calls = base / f".{name}.calls"
    count = int(calls.read_text()) + 1 if calls.exists() else 1
    calls.write_text(str(count))
    if fail_every and count % fail_every == 0:
        raise PlatformError(f"{name} failed on call {count}")
    out = base / f"{name}.json"
    written = out.with_name(f".{name}.{os.getpid()}.tmp")
    written.write_text(json.dumps({"version": _version(out) + 1, "read": read}))
    os.replace(written, out)
    return {"rows_out": 1}


def _version(path: Path) -> int:
    return json.loads(path.read_text())["version"] if path.exists() else 0
