"""Pipeline health from the run log, the scheduler's next runs and the open alerts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.queries.meta import read_meta

_RUNS = """
SELECT run_id, job, trigger, attempt, status, started_at, finished_at,
  round((julianday(coalesce(finished_at, strftime('%Y-%m-%dT%H:%M:%f', 'now'))) - julianday(started_at)) * 86400, 1)
    AS duration_seconds,
  rows_in, rows_out, error
FROM job_runs
"""


def last_runs_per_job(meta_path: Path) -> pd.DataFrame | None:
    """The latest run of every job (passing over missed runs), with its status, duration, rows and error."""
    return read_meta(
        meta_path,
        f"SELECT * FROM ({_RUNS}) WHERE run_id IN (SELECT max(run_id) FROM job_runs WHERE status != 'missed' GROUP BY job) ORDER BY job",
    )


def recent_runs(meta_path: Path, limit: int = 500) -> pd.DataFrame | None:
    """The most recent runs, newest first, for the timeline."""
    return read_meta(meta_path, f"{_RUNS} ORDER BY run_id DESC LIMIT ?", (limit,))


def failure_rates(meta_path: Path) -> pd.DataFrame | None:
    """Per job: finished runs (missed ones are not runs), the share that failed (partial runs included) and the
    share that were retries (attempt > 1)."""
    return read_meta(
        meta_path,
        """
        SELECT job, count(*) AS count_runs,
          sum(status IN ('partial', 'failed', 'timed_out', 'interrupted')) AS count_failed,
          sum(attempt > 1) AS count_retries,
          1.0 * sum(status IN ('partial', 'failed', 'timed_out', 'interrupted')) / count(*) AS failure_rate,
          1.0 * sum(attempt > 1) / count(*) AS retry_rate
        FROM job_runs WHERE status NOT IN ('running', 'missed')
        GROUP BY job ORDER BY job
        """,
    )


def scheduled_runs(meta_path: Path) -> pd.DataFrame | None:
    """The scheduler's jobs by next run time (table `scheduled_jobs`)."""
    return read_meta(meta_path, "SELECT job_id, next_run_at, paused, trigger FROM scheduled_jobs ORDER BY paused, next_run_at")


def open_alerts(meta_path: Path) -> pd.DataFrame | None:
    """Alerts not closed yet, newest first (table `alerts`)."""
    return read_meta(
        meta_path,
        "SELECT alert_key, severity, opened_at, last_sent_at, message FROM alerts WHERE closed_at IS NULL ORDER BY opened_at DESC",
    )
