"""Shared fixtures: settings on a temporary data folder, and one small end-to-end build."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.settings import Settings, load_settings
from pipeline.run import RunSummary, run_all

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "data")


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[Settings, RunSummary]:
    """One end-to-end run on the small demo shop; tests that use it only read."""
    settings = settings_for(tmp_path_factory.mktemp("built") / "data")
    return settings, run_all(settings)


@pytest.fixture
def built_copy(built, tmp_path: Path) -> Settings:
    """Settings on a private copy of the session's small build, for a test that changes it: a copy
    takes a fraction of a second where a first build takes twenty."""
    settings, _ = built
    shutil.copytree(settings.data_dir, tmp_path / "data")
    return settings_for(tmp_path / "data")


def source_rows(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    """Query the demo source itself: the truth the marts must match."""
    with sqlite3.connect(settings.source_path(settings.demo.source)) as con:
        return con.execute(sql, params).fetchall()


def wait_for(condition, timeout: float = 60, step: float = 0.1, what: str | None = None):
    """Poll `condition` until it returns something true (and return that), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")


@pytest.fixture
def receivers():
    """A real webhook (HTTP) and SMTP server on loopback that record what they receive."""
    from tests.receivers import SmtpReceiver, WebhookReceiver

    webhook, smtp = WebhookReceiver(), SmtpReceiver()
    yield webhook, smtp
    webhook.close()
    smtp.close()
