"""`just setup` and a run leave `.env` and the data folder (meta.db, warehouse, lake, logs) readable by their owner only."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import ROOT, SMALL_SCALE, copy_project

pytestmark = pytest.mark.slow


def _cli(module: str, project: Path, data: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(data), "PLATFORM__DEMO__SCALE": SMALL_SCALE})
    result = subprocess.run(
        [sys.executable, "-m", module, "--project", str(project), *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _open_to_others(root: Path) -> list[str]:
    """Every path under `root` (and root) that its group or others may read, write or enter, with its mode."""
    paths = [root, *root.rglob("*")]
    return [f"{path} {stat.filemode(path.lstat().st_mode)}" for path in paths if not path.is_symlink() and path.lstat().st_mode & 0o077]


@pytest.fixture(autouse=True)
def usual_umask():
    """A usual login shell's umask: files world-readable unless the platform says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_setup_and_a_run_keep_secrets_and_data_owner_only(tmp_path):
    project = copy_project(tmp_path / "project")
    shutil.copy(ROOT / ".env.example", project / ".env.example")
    data = tmp_path / "data"
    _cli("scheduler.cli", project, data, "setup")
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    _cli("pipeline.cli", project, data, "run")
    for written in ("meta.db", "warehouse.duckdb", "lake/raw", "lake/curated", "logs"):
        assert (data / written).exists(), written
    assert any((data / "lake" / "curated").rglob("*.parquet"))
    assert _open_to_others(data) == []
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_setup_closes_an_env_and_a_data_folder_left_open(tmp_path):
    project = copy_project(tmp_path / "project")
    (project / ".env").write_text("APP_SESSION_SECRET=" + "s" * 40 + "\n")
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    (data / "meta.db").write_bytes(b"")
    (data / "logs" / "platform.log").write_text("{}\n")
    for path in (project / ".env", data / "meta.db", data / "logs" / "platform.log"):
        path.chmod(0o644)
    for folder in (data, data / "logs"):
        folder.chmod(0o755)
    result = _cli("scheduler.cli", project, data, "setup")
    assert "owner only" in result.stdout
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert (project / ".env").read_text().startswith("APP_SESSION_SECRET=")  # left as it is, but closed
    assert _open_to_others(data) == []
