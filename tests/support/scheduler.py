"""Scheduler test helpers: job lists for the settings, the run history, `just serve` in a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core import runlog
from tests.support.project import ROOT, SMALL_SCALE, settings_for

TASKS = "tests.support.scheduler_tasks"
OFF = {"ingest:shop": {"enabled": False}}  # the demo source's ingest job stays out of these tests


def job_settings(data_dir: Path, jobs: dict, **env: str):
    """Settings whose job list is exactly `jobs` (plus a disabled ingest job)."""
    return settings_for(data_dir, PLATFORM__JOBS__DEFINE=json.dumps({**OFF, **jobs}), **env)


def runs(settings, job: str | None = None) -> list[dict]:
    return list(reversed(runlog.last_runs(settings.meta_path, 100, job=job)))


def serve(data_dir, jobs: dict, **env: str) -> subprocess.Popen:
    """`python -m scheduler.cli serve` as `just serve` runs it, on `data_dir` with the given jobs."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update(
        {
            "PLATFORM__DATA_DIR": str(data_dir),
            "PLATFORM__DEMO__SCALE": SMALL_SCALE,
            "PLATFORM__JOBS__DEFINE": json.dumps({**OFF, **jobs}),
            **env,
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "serve"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
