"""The run log: one row per job run in a small SQLite metadata store, separate from the warehouse."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 1,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    rows_in     INTEGER,
    rows_out    INTEGER,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS job_runs_by_job ON job_runs (job, started_at);
"""

STATUSES = ("running", "success", "failed", "skipped", "timed_out", "interrupted")


@dataclass
class JobRun:
    """A run in progress; set `rows_in` / `rows_out` before it ends."""

    run_id: int
    job: str
    rows_in: int | None = None
    rows_out: int | None = None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def connect(meta_path: Path) -> sqlite3.Connection:
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(meta_path, timeout=30)
    con.executescript(SCHEMA)
    return con


@contextlib.contextmanager
def record(meta_path: Path, job: str, *, trigger: str = "manual", attempt: int = 1) -> Iterator[JobRun]:
    """Record a job run: 'running' at the start, then 'success' or 'failed' with the error."""
    with contextlib.closing(connect(meta_path)) as con, con:
        cursor = con.execute(
            "INSERT INTO job_runs (job, trigger, attempt, started_at, status) VALUES (?, ?, ?, ?, 'running')",
            (job, trigger, attempt, _now()),
        )
        run = JobRun(run_id=cursor.lastrowid, job=job)
    status, error = "failed", None
    try:
        yield run
        status = "success"
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
        raise
    finally:
        with contextlib.closing(connect(meta_path)) as con, con:
            con.execute(
                "UPDATE job_runs SET finished_at = ?, status = ?, rows_in = ?, rows_out = ?, error = ? WHERE run_id = ?",
                (_now(), status, run.rows_in, run.rows_out, error, run.run_id),
            )


def last_runs(meta_path: Path, limit: int = 20) -> list[dict]:
    """The most recent runs, newest first."""
    if not meta_path.exists():
        return []
    with contextlib.closing(connect(meta_path)) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM job_runs ORDER BY run_id DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]
