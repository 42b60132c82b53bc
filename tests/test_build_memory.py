"""A build spills to the data folder when its memory is short, and a build that runs out of memory
names the setting to raise (transform/context.py: duckdb_settings, out_of_memory_hint)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from core.errors import PlatformError
from core.run_context import open_run
from core.settings import load_settings
from tests.support.project import ROOT, SMALL_SCALE
from transform.build import build_prod
from transform.context import sqlmesh_config

MEMORY_ENV = "SQLMESH__GATEWAYS__LOCAL__CONNECTION__CONNECTOR_CONFIG__MEMORY_LIMIT"
TEMP_ENV = "SQLMESH__GATEWAYS__LOCAL__CONNECTION__CONNECTOR_CONFIG__TEMP_DIRECTORY"
ROWS, KEYS = 1_000_000, 830_000

# A million versions of 830,000 keys in six loads, deduplicated as docs/tutorial.md writes it:
# in 64 MB the window must spill.
EVENTS = f"""MODEL (
  name staging.stg_gen__events,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain event_id,
  description 'One row per version of an event, generated.',
  audits (not_null(columns := (event_id)))
);

SELECT
  (generated.range % {KEYS})::BIGINT AS event_id, -- The event
  ('some longer text value number ' || (generated.range * 7))::TEXT AS event_text, -- Its text
  md5(generated.range::TEXT)::TEXT AS event_hash, -- A hash of it
  (generated.range // {ROWS // 6})::TEXT AS _dlt_load_id -- The load that brought it
FROM range({ROWS}) AS generated
"""
LATEST = """MODEL (
  name marts.latest_events,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain event_id,
  description 'One row per event: its latest version.',
  audits (not_null(columns := (event_id)), unique_values(columns := (event_id)))
);

SELECT
  event_id, -- The event
  event_text, -- Its text
  event_hash -- A hash of it
FROM staging.stg_gen__events
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _dlt_load_id DESC) = 1
"""


def _settings(tmp_path, data: str):
    project = tmp_path / "project"
    (project / "models" / "staging").mkdir(parents=True, exist_ok=True)
    (project / "models" / "marts").mkdir(exist_ok=True)
    shutil.copy(ROOT / "config.yaml", project / "config.yaml")
    shutil.copytree(ROOT / "linter", project / "linter", ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (project / "models" / "staging" / "stg_gen__events.sql").write_text(EVENTS)
    (project / "models" / "marts" / "latest_events.sql").write_text(LATEST)
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(tmp_path / data), "PLATFORM__DEMO__SCALE": SMALL_SCALE})


def test_unless_set_the_build_spills_in_the_data_folder_with_memory_sized_to_the_machine(settings):
    connector = sqlmesh_config(settings).gateways["local"].connection.connector_config
    assert connector["temp_directory"] == f"{settings.warehouse_path}.tmp"
    assert connector["memory_limit"].endswith("MB") and int(connector["memory_limit"][:-2]) >= 512


@pytest.mark.slow
def test_a_dedupe_bigger_than_memory_spills_and_without_spilling_the_error_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "64MB")
    monkeypatch.setenv(TEMP_ENV, "")
    with pytest.raises(PlatformError) as refused:
        build_prod(open_run(_settings(tmp_path, "no-spill")))
    message = str(refused.value)
    assert "Out of Memory" in message and "Traceback" not in message
    assert "memory_limit 64MB, spilling to nowhere" in message
    assert f"raise memory_limit under gateways.local.connection.connector_config in config.yaml, or set {MEMORY_ENV}" in message

    # Another warehouse file: SQLMesh keeps one connection per DuckDB file for the whole process.
    monkeypatch.delenv(TEMP_ENV)
    settings = _settings(tmp_path, "spill")
    build_prod(open_run(settings))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows, keys, latest = con.execute(
            "SELECT count(*), count(DISTINCT event_id), count(*) FILTER (WHERE event_text = "
            f"'some longer text value number ' || ((event_id + {KEYS}) * 7)) FROM marts.latest_events"
        ).fetchone()
    # Keys below ROWS - KEYS have a second version, from a later load: it is the one kept.
    assert rows == keys == KEYS and latest == ROWS - KEYS
