"""Everything a run writes lands in its data folder: nothing in the repository, whatever the cwd."""

from __future__ import annotations

import os
from pathlib import Path

from sqlmesh.core.config import Config
from sqlmesh.core.config.loader import load_config_from_paths

from pipeline.run import run_all
from tests.support.project import ROOT, settings_for

# Written by Python and pytest themselves.
NOT_RUN_OUTPUT = ("__pycache__", ".pytest_cache")
# Written meanwhile by others: the environment, the Evidence project's tooling (app/reports/.gitignore),
# plain `sqlmesh` commands' log folder (SQLMesh has no setting for it; the platform logs to data/logs), and
# the test suite's own artifacts, which tests in other workers write while this run goes on.
SKIPPED_DIRS = {
    ROOT / ".git",
    ROOT / ".venv",
    ROOT / "app/reports/node_modules",
    ROOT / "app/reports/.evidence",
    ROOT / "app/reports/build",
    ROOT / "logs",
    ROOT / "data/test-artifacts",
}


def _files(root: Path, outside: Path) -> dict[str, int]:
    """Every file under `root` (but not under `outside`), with its modification time in ns."""
    found = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if d not in NOT_RUN_OUTPUT and here / d not in SKIPPED_DIRS and here / d != outside]
        found.update({str((here / f).relative_to(root)): (here / f).stat().st_mtime_ns for f in files})
    return found


def test_a_run_writes_nothing_outside_its_data_folder(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__DEMO__SCALE="0.01")
    before = _files(ROOT, outside=settings.data_dir)
    summary = run_all(settings)
    assert summary.models_built and settings.warehouse_path.exists()
    assert (settings.data_dir / "sqlmesh-cache").is_dir()
    after = _files(ROOT, outside=settings.data_dir)
    assert sorted(path for path, mtime in after.items() if before.get(path) != mtime) == []


def _paths(config: Config) -> dict[str, str]:
    spark = config.gateways["spark"]
    return {
        "duckdb warehouse": config.gateways["local"].connection.database,
        "sqlmesh cache": str(config.cache_dir),
        "spark warehouse": spark.connection.config["spark.sql.warehouse.dir"],
        "derby home": spark.connection.config["spark.driver.extraJavaOptions"].removeprefix("-Dderby.system.home="),
        "spark state": spark.state_connection.database,
    }


def test_plain_sqlmesh_commands_write_in_the_data_folder(monkeypatch, tmp_path):
    """A `sqlmesh` command at the repository root reads config.yaml without the platform: PLATFORM__DATA_DIR, else data/."""
    monkeypatch.setenv("PLATFORM__TRANSFORM__GATEWAY", "spark")  # config.yaml declares the spark gateway once selected
    monkeypatch.setenv("PLATFORM__DATA_DIR", str(tmp_path))
    paths = _paths(load_config_from_paths(Config, project_paths=[ROOT / "config.yaml"]))
    assert {name: Path(path).is_relative_to(tmp_path) for name, path in paths.items()} == dict.fromkeys(paths, True)

    monkeypatch.delenv("PLATFORM__DATA_DIR")
    paths = _paths(load_config_from_paths(Config, project_paths=[ROOT / "config.yaml"]))
    assert {name: path.split("/")[0] for name, path in paths.items()} == dict.fromkeys(paths, "data")
