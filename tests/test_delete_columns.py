"""Deletes flagged from a boolean column of the source, and a delete column empty in every file of a
drop: staging binds, flags the deleted rows, and the marts reflect them (no traceback)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import pytest
import yaml

from core.settings import Settings, load_settings
from pipeline.run import run_all
from tests.support.project import ROOT, SMALL_SCALE, copy_project

pytestmark = pytest.mark.slow


def _staging(table: str, columns: str, deleted_at: str, flag: str) -> str:
    return f"""MODEL (
  name staging.stg_drops__{table},
  kind INCREMENTAL_BY_UNIQUE_KEY (unique_key id),
  owner data_platform,
  cron '@daily',
  grain id,
  description 'One row per dropped {table} row: its latest version, deleted ones flagged.',
  audits (not_null(columns := (id)), unique_values(columns := (id)))
);

WITH source AS (
  SELECT id, {columns}, updated_at, _deleted, _dlt_load_id
  FROM raw_drops.{table}
  WHERE @unmerged_keys(raw_drops.{table}, id)
)

SELECT
  id::BIGINT AS id, -- The row's id
  updated_at::TIMESTAMP AS updated_at, -- When this version was written
  {deleted_at}::TIMESTAMP AS deleted_at, -- When it was deleted in the source, else NULL
  {flag} AS is_deleted -- Deleted in the source, softly or not
FROM source
QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
"""


MART = """MODEL (
  name marts.drops_live,
  kind FULL,
  owner data_platform,
  cron '@daily',
  grain table_name,
  description 'Live rows per dropped table.',
  audits (not_null(columns := (table_name)))
);

SELECT 'items' AS table_name, count(*) AS live_rows FROM staging.stg_drops__items WHERE NOT is_deleted -- Table, live rows
UNION ALL
SELECT 'notes' AS table_name, count(*) AS live_rows FROM staging.stg_drops__notes WHERE NOT is_deleted
"""


def _project(tmp_path) -> tuple[Settings, Path]:
    project = tmp_path / "project"
    copy_project(project)
    staging = project / "models" / "staging"
    (staging / "stg_drops__items.sql").write_text(
        _staging("items", "is_removed", "CASE WHEN is_removed THEN updated_at END", "coalesce(is_removed, false) OR _deleted")
    )
    (staging / "stg_drops__notes.sql").write_text(_staging("notes", "deleted_at", "deleted_at", "deleted_at IS NOT NULL OR _deleted"))
    (project / "models" / "marts" / "drops_live.sql").write_text(MART)
    external = yaml.safe_load((ROOT / "external_models.yaml").read_text())
    common = {"id": "BIGINT", "updated_at": "TIMESTAMP", "_dlt_load_id": "TEXT", "_deleted": "BOOLEAN"}
    external.append({"name": "raw_drops.items", "columns": {**common, "is_removed": "BOOLEAN"}})
    external.append({"name": "raw_drops.notes", "columns": {**common, "deleted_at": "TIMESTAMP"}})
    (project / "external_models.yaml").write_text(yaml.safe_dump(external, sort_keys=False))
    config = (ROOT / "config.yaml").read_text()
    drops = (
        "      drops: {kind: files, landing: landing/drops, settle_seconds: 0, tables: {"
        'items: {pattern: "items*", cursor: updated_at, soft_delete: is_removed}, '
        'notes: {pattern: "notes*", cursor: updated_at}}}\n'
    )
    (project / "config.yaml").write_text(config.replace("    sources:\n", "    sources:\n" + drops, 1))
    env = {"PLATFORM__DATA_DIR": str(tmp_path / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "PLATFORM__DEMO__ENABLED": "false"}
    settings = load_settings(project, env=env)
    landing = settings.landing_path("drops")
    landing.mkdir(parents=True)
    return settings, landing


def _items(*rows: tuple[int, str, bool]) -> str:
    """JSONL of items: (id, day of its version, removed)."""
    return "".join(f'{{"id": {key}, "updated_at": "{day}T00:00:00", "is_removed": {str(removed).lower()}}}\n' for key, day, removed in rows)


def _read(settings, sql: str) -> list[tuple]:
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path), read_only=True)) as con:
        return con.execute(sql).fetchall()


def test_a_boolean_delete_flag_and_an_empty_delete_column_are_staged_and_reach_the_marts(tmp_path):
    settings, landing = _project(tmp_path)
    (landing / "items-1.jsonl").write_text(_items((1, "2026-01-01", False), (2, "2026-01-01", False)))
    # deleted_at is empty in every file of the first drop: no load holds the column
    (landing / "notes-1.csv").write_text("id,updated_at,deleted_at\n1,2026-01-01T00:00:00,\n2,2026-01-01T00:00:00,\n")
    run_all(settings)
    assert _read(settings, "SELECT id, is_deleted FROM staging.stg_drops__items ORDER BY id") == [(1, False), (2, False)]
    assert _read(settings, "SELECT id, is_deleted FROM staging.stg_drops__notes ORDER BY id") == [(1, False), (2, False)]
    assert _read(settings, "SELECT table_name, live_rows FROM marts.drops_live ORDER BY 1") == [("items", 2), ("notes", 2)]

    (landing / "items-2.jsonl").write_text(_items((2, "2026-01-02", True)))
    (landing / "notes-2.csv").write_text("id,updated_at,deleted_at\n1,2026-01-02T00:00:00,2026-01-02T00:00:00\n")
    second = run_all(settings)
    assert {"staging.stg_drops__items", "staging.stg_drops__notes"} <= set(second.models_built)
    assert _read(settings, "SELECT id, is_deleted FROM staging.stg_drops__items ORDER BY id") == [(1, False), (2, True)]
    assert _read(settings, "SELECT id, is_deleted FROM staging.stg_drops__notes ORDER BY id") == [(1, True), (2, False)]
    assert _read(settings, "SELECT table_name, live_rows FROM marts.drops_live ORDER BY 1") == [("items", 1), ("notes", 1)]


def test_an_older_version_dropped_late_leaves_the_newer_one_staged(tmp_path):
    """The comparison reads a key's versions in the new loads alone; an older version arriving late counts as a
    change there, and the merge, which reads every version of the key, keeps the newer one."""
    settings, landing = _project(tmp_path)
    (landing / "items-1.jsonl").write_text(_items((1, "2026-01-02", False), (2, "2026-01-01", False)))
    (landing / "notes-1.csv").write_text("id,updated_at,deleted_at\n1,2026-01-01T00:00:00,\n")
    run_all(settings)

    (landing / "items-2.jsonl").write_text(_items((1, "2026-01-01", True), (3, "2026-01-03", False)))  # 1: older than staged
    run_all(settings)
    staged = "SELECT id, updated_at::TEXT, is_deleted FROM staging.stg_drops__items ORDER BY id"
    assert _read(settings, staged) == [
        (1, "2026-01-02 00:00:00", False),
        (2, "2026-01-01 00:00:00", False),
        (3, "2026-01-03 00:00:00", False),
    ]
    assert _read(settings, "SELECT live_rows FROM marts.drops_live WHERE table_name = 'items'") == [(3,)]

    (landing / "items-3.jsonl").write_text(_items((1, "2026-01-04", True)))
    run_all(settings)
    assert _read(settings, staged)[0] == (1, "2026-01-04 00:00:00", True)
    assert _read(settings, "SELECT live_rows FROM marts.drops_live WHERE table_name = 'items'") == [(2,)]
