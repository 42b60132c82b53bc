"""This project on a temporary data folder: its settings, its command line, and its demo source."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SMALL_SCALE = "0.03"  # 3,000 orders: the whole DAG builds in seconds


def settings_for(data_dir: Path, **env: str) -> Settings:
    """Settings of this project on `data_dir`, at the small test scale, with extra PLATFORM__ overrides."""
    values = {
        "PLATFORM__DATA_DIR": str(data_dir),
        "PLATFORM__DEMO__SCALE": SMALL_SCALE,
        "PLATFORM__RUN__LOCK_WAIT_SECONDS": "2",
        **env,
    }
    return load_settings(ROOT, env=values)


def run_cli(*args: str, data_dir: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """The command line as a user runs it, in a fresh process."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE, **env})
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout
    )


def source_rows(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    """Query the demo source itself: the truth the marts must match."""
    with sqlite3.connect(settings.source_path(settings.demo.source)) as con:
        return con.execute(sql, params).fetchall()
