"""A project with the demo shop switched off (`demo.enabled: false`) runs only its own sources and
models: the tutorial's library, and nothing of the shop (transform/demo_models.py)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from core.settings import load_settings
from pipeline.run import run_all
from tests.support.project import SMALL_SCALE
from tests.test_tutorial import FIRST_DROPS, MART, _expected, _mart, _project
from transform.context import open_context


@pytest.mark.slow
def test_with_the_demo_off_a_run_builds_and_publishes_only_the_project_s_own_source(tmp_path):
    project = _project(tmp_path).project_dir
    env = {"PLATFORM__DATA_DIR": str(tmp_path / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "PLATFORM__DEMO__ENABLED": "false"}
    settings = load_settings(project, env=env)
    assert list(settings.sources) == ["library"]
    landing = settings.landing_path("library")
    landing.mkdir(parents=True)
    for drop in FIRST_DROPS:
        shutil.copy(drop, landing)

    summary = run_all(settings)
    assert summary.generated_source is None and set(summary.rows_loaded) == {"library"}
    assert set(summary.published_rows) == {MART}
    assert _mart(settings) == _expected(FIRST_DROPS)
    assert not (settings.data_dir / "sources").exists() and not (settings.lake_root / "raw" / "shop").exists()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = {row[0] for row in con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()}
    assert not [name for name in tables if "shop" in name or name.startswith("marts.fct_")], sorted(tables)

    context = open_context(settings)
    try:
        built = {model.name for model in context.models.values() if not model.kind.is_external}
    finally:
        context.close()
    assert built == {"staging.stg_library__loans", f"marts.{MART}", "staging.stg_ref__calendar"}


def test_with_the_demo_off_the_demo_commands_refuse_naming_the_switch(tmp_path):
    from tests.support.project import run_cli

    for command in ("demo", "demo-day"):
        done = run_cli(command, data_dir=tmp_path / "data", PLATFORM__DEMO__ENABLED="false")
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert "The demo shop is off (demo.enabled: false in config.yaml)" in done.stdout + done.stderr
