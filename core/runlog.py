"""The run log: one row per job run in a small SQLite metadata store, separate from the warehouse."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import PartialFailure
from core.metastore import connect

STATUSES = ("running", "success", "partial", "failed", "skipped", "timed_out", "interrupted", "missed")
# 'partial': it did part of its work (a load of every table but some) and failed the rest: alerted, not a success,
# but what it made is there, so the jobs after it run.
# 'missed': a planned run that did not start (its previous run was still in progress, or it was missed by
# more than the grace). It says nothing about the job's data, so a job's latest state passes over it.


@dataclass
class JobRun:
    """A run in progress; set `rows_in` / `rows_out` before it ends."""

    run_id: int
    job: str
    rows_in: int | None = None
    rows_out: int | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def start_run(meta_path: Path, job: str, *, trigger: str, attempt: int = 1, status: str = "running") -> int:
    """Insert a run row (by default 'running', owned by this process) and return its id."""
    with contextlib.closing(connect(meta_path)) as con, con:
        cursor = con.execute(
            "INSERT INTO job_runs (job, trigger, attempt, started_at, status, pid) VALUES (?, ?, ?, ?, ?, ?)",
            (job, trigger, attempt, _now(), status, os.getpid()),
        )
        assert cursor.lastrowid is not None  # an INSERT always sets it
        return cursor.lastrowid


def finish_run(
    meta_path: Path, run_id: int, status: str, *, rows_in: int | None = None, rows_out: int | None = None, error: str | None = None
) -> None:
    """Close a run row with its final status."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    with contextlib.closing(connect(meta_path)) as con, con:
        con.execute(
            "UPDATE job_runs SET finished_at = ?, status = ?, rows_in = ?, rows_out = ?, error = ? WHERE run_id = ?",
            (_now(), status, rows_in, rows_out, error[:500] if error else None, run_id),
        )


def close_orphans(meta_path: Path) -> int:
    """Mark 'running' rows whose recording process is gone as interrupted (e.g. after a kill -9)."""
    if not meta_path.exists():
        return 0
    with contextlib.closing(connect(meta_path)) as con, con:
        rows = con.execute("SELECT run_id, pid FROM job_runs WHERE status = 'running' AND pid IS NOT NULL").fetchall()
        gone = [run_id for run_id, pid in rows if not is_alive(pid)]
        con.executemany(
            "UPDATE job_runs SET status = 'interrupted', finished_at = ?, error = 'the recording process ended mid-run' WHERE run_id = ?",
            [(_now(), run_id) for run_id in gone],
        )
    return len(gone)


def orphans(meta_path: Path) -> int:
    """How many 'running' rows' recording processes are gone, read without writing anything."""
    if not meta_path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"{meta_path.resolve().as_uri()}?mode=ro", uri=True)) as con:
        try:
            rows = con.execute("SELECT pid FROM job_runs WHERE status = 'running' AND pid IS NOT NULL").fetchall()
        except sqlite3.OperationalError:  # a store from before runs were recorded with their process
            return 0
    return sum(1 for (pid,) in rows if not is_alive(pid))


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(meta_path: Path, older_than: dt.datetime) -> int:
    """Delete finished runs that started before `older_than` (history retention)."""
    with contextlib.closing(connect(meta_path)) as con, con:
        cursor = con.execute(
            "DELETE FROM job_runs WHERE status != 'running' AND started_at < ?", (older_than.isoformat(timespec="milliseconds"),)
        )
        return cursor.rowcount


def latest_per_job(meta_path: Path) -> dict[str, dict]:
    """The most recent run of each job (by run id), passing over runs that were missed."""
    if not meta_path.exists():
        return {}
    with contextlib.closing(connect(meta_path)) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute(
            "SELECT * FROM job_runs WHERE run_id IN (SELECT max(run_id) FROM job_runs WHERE status != 'missed' GROUP BY job) ORDER BY job"
        ).fetchall()
    return {row["job"]: dict(row) for row in rows}


@contextlib.contextmanager
def record(meta_path: Path, job: str, *, trigger: str = "manual", attempt: int = 1) -> Iterator[JobRun]:
    """Record a job run: 'running' at the start, then 'success', 'partial' (a PartialFailure) or 'failed' with the
    error. A signal that lands while the row is being opened still has it closed."""
    run: JobRun | None = None
    status, error = "failed", None
    try:
        with contextlib.closing(connect(meta_path)) as con, con:
            cursor = con.execute(
                "INSERT INTO job_runs (job, trigger, attempt, started_at, status, pid) VALUES (?, ?, ?, ?, 'running', ?)",
                (job, trigger, attempt, _now(), os.getpid()),
            )
            assert cursor.lastrowid is not None  # an INSERT always sets it
            run = JobRun(run_id=cursor.lastrowid, job=job)
        yield run
        status = "success"
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "partial" if isinstance(exc, PartialFailure) else "failed"
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
        raise
    finally:
        closing = "UPDATE job_runs SET finished_at = ?, status = ?, rows_in = ?, rows_out = ?, error = ? WHERE "
        values = (_now(), status, run.rows_in if run else None, run.rows_out if run else None, error)
        with contextlib.closing(connect(meta_path)) as con, con:
            if run is not None:
                con.execute(closing + "run_id = ?", (*values, run.run_id))
            else:  # the signal came before the row's id was read: this process's open row of the job
                con.execute(closing + "job = ? AND pid = ? AND status = 'running'", (*values, job, os.getpid()))


def last_runs(meta_path: Path, limit: int = 20, job: str | None = None) -> list[dict]:
    """The most recent runs (of one job, or all), newest first."""
    if not meta_path.exists():
        return []
    with contextlib.closing(connect(meta_path)) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM job_runs WHERE ? IS NULL OR job = ? ORDER BY run_id DESC LIMIT ?", (job, job, limit)).fetchall()
    return [dict(row) for row in rows]
