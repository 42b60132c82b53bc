"""This project on a temporary data folder: its settings, its command line, and its demo source."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SMALL_SCALE = "0.03"  # 3,000 orders: the whole DAG builds in seconds
# What the SQLMesh project is made of: a copy of these builds as the repository does.
PROJECT_FILES = ("config.yaml", "external_models.yaml", "models", "macros", "audits", "seeds", "linter")
UNIT_TESTS = "tests/sqlmesh"  # SQLMesh runs them before every plan


def copy_project(target: Path, *, unit_tests: bool = False) -> Path:
    """A copy of the project's SQLMesh files (and its SQLMesh unit tests if asked) in `target`, for a test to change."""
    for name in (*PROJECT_FILES, UNIT_TESTS) if unit_tests else PROJECT_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, target / name)
    return target


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


def delete_order_at_source(settings: Settings, pick: str) -> int:
    """Delete one order of the demo shop with its lines and payments (a hard delete); `pick` is `min` or
    `max`, of the order ids. Returns the order's id."""
    assert pick in ("min", "max")
    with sqlite3.connect(settings.source_path("shop")) as src:
        (gone,) = src.execute(f"SELECT {pick}(id) FROM orders").fetchone()
        for table, key in (("payments", "order_id"), ("order_items", "order_id"), ("orders", "id")):
            src.execute(f"DELETE FROM {table} WHERE {key} = ?", (gone,))
    return gone
