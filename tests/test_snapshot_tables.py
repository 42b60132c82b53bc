"""A SQL table declared without a cursor is a snapshot: taken whole each run, replacing the one before (issue 26)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from core.run_context import open_run
from core.settings import load_settings
from core.settings_sources import TableSettings
from ingest.pipeline import ingest_source
from pipeline.run import run_all
from publish.reader import connect_published
from tests.support.project import SMALL_SCALE, copy_project
from tests.support.sources import quarantine, raw, settings_with_sources


def test_a_cursorless_table_is_never_appended_twice_and_a_deleted_key_leaves_raw(tmp_path):
    settings = settings_with_sources(
        tmp_path,
        {"erp": {"kind": "sqlite", "path": "erp.db", "tables": {"rates": {"primary_key": ["currency", "day"], "cursor": None}}}},
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(settings.source_path("erp"))) as con, con:
        con.execute("CREATE TABLE rates (currency TEXT, day TEXT, rate REAL)")
        con.executemany("INSERT INTO rates VALUES (?, ?, ?)", [(c, f"2025-01-0{d}", 1.0 + d) for c in ("EUR", "USD") for d in range(1, 6)])

    ingest_source(open_run(settings), "erp")
    ingest_source(open_run(settings), "erp")
    assert raw(settings, "erp", "rates", "SELECT count(*), count(DISTINCT _dlt_load_id) FROM t") == [(10, 1)]

    with contextlib.closing(sqlite3.connect(settings.source_path("erp"))) as con, con:
        con.execute("DELETE FROM rates WHERE currency = 'USD' AND day = '2025-01-05'")
        con.execute("UPDATE rates SET rate = 9 WHERE currency = 'EUR' AND day = '2025-01-01'")
    ingest_source(open_run(settings), "erp")
    assert raw(settings, "erp", "rates", "SELECT count(*) FROM t") == [(9,)]
    assert raw(settings, "erp", "rates", "SELECT rate FROM t WHERE currency = 'EUR' AND day = '2025-01-01'") == [(9.0,)]
    assert raw(settings, "erp", "rates", "SELECT count(*) FROM t WHERE currency = 'USD' AND day = '2025-01-05'") == [(0,)]


def test_a_cursorless_table_cannot_be_declared_append():
    assert TableSettings(cursor=None).disposition == "replace"
    assert TableSettings().disposition == "append"
    with pytest.raises(ValidationError, match="without a cursor"):
        TableSettings(cursor=None, write_disposition="append")


# Snapshot tables of no row now (emptied, or every row quarantined) and a cursored table whose new versions are all
# quarantined, each staged FULL (as the battery stages) and incremental by key (as docs/tutorial.md stages).
_TABLES = {
    "emptied": None,
    "emptied_keyed": None,
    "refused": None,
    "refused_keyed": None,
    "refused_cursored": "updated_at",
}
_FIRST = {1: 1.5, 2: 2.5, 3: 3.5}


def _stage(project: Path, table: str, cursor: str | None) -> None:
    keyed = table.endswith(("_keyed", "_cursored"))
    order = f"{cursor} DESC, _dlt_load_id DESC" if cursor else "_dlt_load_id DESC"
    kept = f", {cursor}::TIMESTAMP AS {cursor}" if cursor else ""
    if keyed:
        staging = (
            f"MODEL (name staging.stg_erp__{table}, kind INCREMENTAL_BY_UNIQUE_KEY (unique_key id), owner erp, grain id, "
            "audits (unique_values(columns := (id))));\n\n"
            f"WITH source AS (SELECT * FROM raw_erp.{table} WHERE @unmerged_keys(raw_erp.{table}, id))\n"
            f"SELECT id::BIGINT AS id, amount::DOUBLE AS amount{kept}, _deleted AS is_deleted FROM source\n"
            f"QUALIFY row_number() OVER (PARTITION BY id ORDER BY {order}) = 1\n"
        )
    else:
        staging = (
            f"MODEL (name staging.stg_erp__{table}, kind FULL, owner erp, grain id, audits (unique_values(columns := (id))));\n\n"
            f"SELECT id::BIGINT AS id, amount::DOUBLE AS amount FROM raw_erp.{table} WHERE NOT _deleted\n"
            f"QUALIFY row_number() OVER (PARTITION BY id ORDER BY {order}) = 1\n"
        )
    (project / "models" / "staging" / f"stg_erp__{table}.sql").write_text(staging)
    (project / "models" / "marts" / f"snap_{table}.sql").write_text(
        f"MODEL (name marts.snap_{table}, kind FULL, owner erp, grain id, audits (unique_values(columns := (id))));\n\n"
        f"SELECT id, amount FROM staging.stg_erp__{table}{' WHERE NOT is_deleted' if keyed else ''}\n"
    )


@pytest.fixture(scope="module")
def emptied_snapshots(tmp_path_factory) -> dict[str, set[tuple]]:
    """Two runs (ingest, build, publish); at the second, the `emptied` tables are empty and every row of the `refused`
    ones holds an infinite amount (quarantined: `non_finite`). Returns each published mart after the second run."""
    tmp_path = tmp_path_factory.mktemp("snapshots")
    project = copy_project(tmp_path / "project")
    declared = {"kind": "sqlite", "path": "erp.db", "quality": {"max_bad_share": 1}}
    declared["tables"] = {table: {"cursor": cursor} for table, cursor in _TABLES.items()}
    block = "".join(f"      {line}\n" for line in yaml.safe_dump({"erp": declared}, sort_keys=False).splitlines())
    config = (project / "config.yaml").read_text()
    (project / "config.yaml").write_text(config.replace("    sources:\n", "    sources:\n" + block, 1))
    for table, cursor in _TABLES.items():
        _stage(project, table, cursor)
    env = {"PLATFORM__DATA_DIR": str(tmp_path / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "PLATFORM__DEMO__ENABLED": "false"}
    settings = load_settings(project, env=env)
    settings.source_path("erp").parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(settings.source_path("erp"))) as con, con:
        for table in _TABLES:
            con.execute(f"CREATE TABLE {table} (id INTEGER, amount REAL, updated_at TEXT)")
            con.executemany(f"INSERT INTO {table} VALUES (?, ?, '2025-01-01 00:00:00')", _FIRST.items())
    assert run_all(settings).published_version is not None
    assert {table: _published(settings, table) for table in _TABLES} == {table: set(_FIRST.items()) for table in _TABLES}

    with contextlib.closing(sqlite3.connect(settings.source_path("erp"))) as con, con:
        con.execute("DELETE FROM emptied")
        con.execute("DELETE FROM emptied_keyed")
        for table in ("refused", "refused_keyed", "refused_cursored"):
            con.execute(f"UPDATE {table} SET amount = 1e999, updated_at = '2025-01-02 00:00:00'")
    summary = run_all(settings)
    assert summary.published_version is not None
    assert quarantine(settings, "erp", "refused") == [(3,)]
    return {table: _published(settings, table) for table in _TABLES}


def _published(settings, table: str) -> set[tuple]:
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        return set(con.execute(f"SELECT id, amount FROM marts.snap_{table}").fetchall())


@pytest.mark.slow
@pytest.mark.parametrize("table", ["emptied", "emptied_keyed"])
def test_an_emptied_snapshot_table_empties_the_published_mart(emptied_snapshots, table):
    assert emptied_snapshots[table] == set(), f"{table}: the source table is empty"


@pytest.mark.slow
@pytest.mark.parametrize("table", ["refused", "refused_keyed"])
def test_a_snapshot_of_which_every_row_is_quarantined_replaces_the_one_before(emptied_snapshots, table):
    assert emptied_snapshots[table] == set(), f"{table}: no row of the source table passes"


@pytest.mark.slow
def test_a_cursored_load_of_which_every_row_is_quarantined_deletes_nothing(emptied_snapshots):
    assert emptied_snapshots["refused_cursored"] == set(_FIRST.items())
