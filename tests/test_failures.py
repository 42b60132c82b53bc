"""Clear failures: a missing source or a failing audit stops the run, and published marts stay as they were; a source
whose load fails stops no other, and the run says which failed."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
from pathlib import Path

import pytest
import yaml

from core import runlog
from core.errors import PlatformError
from core.run_context import open_run
from core.settings import Settings, load_settings
from ingest.pipeline import PartialIngest
from pipeline import stages
from pipeline.cli import cmd_run
from pipeline.run import PartialRun, run_all
from publish.reader import connect_published, current_version
from tests.support.project import SMALL_SCALE, copy_project, run_cli, settings_for
from tests.support.sources import raw, settings_with_sources

# These tests prove the SQLMesh audits; with pandera contracts on, ingestion would quarantine the bad row first.
NO_CONTRACTS = {"PLATFORM__SOURCES__SHOP__QUALITY__ENABLED": "false"}


def _with_erp(tmp_path, tables: dict) -> tuple[Settings, Path]:
    """The demo project with a SQLite source `erp` of `tables` listed before the shop; its settings and data folder
    (which holds `erp.db`, not created)."""
    project = copy_project(tmp_path / "project")
    erp = {"erp": {"kind": "sqlite", "path": "erp.db", "tables": tables}}
    declared = "".join(f"      {line}\n" for line in yaml.safe_dump(erp).splitlines())
    config = (project / "config.yaml").read_text()
    (project / "config.yaml").write_text(config.replace("    sources:\n", "    sources:\n" + declared, 1))
    data = tmp_path / "data"
    data.mkdir()
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(data), "PLATFORM__DEMO__SCALE": SMALL_SCALE}), data


def test_missing_source_file_is_a_clear_error(tmp_path):
    result = run_cli("run", data_dir=tmp_path / "data", PLATFORM__DEMO__SOURCE="none")
    assert result.returncode == 1
    assert "Source database" in result.stderr and "shop.db does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_failing_audit_stops_the_build_and_keeps_the_published_marts(tmp_path):
    settings = settings_for(tmp_path / "data", **NO_CONTRACTS)
    first = run_all(settings)
    with sqlite3.connect(settings.source_path("shop")) as con:
        next_id = con.execute("SELECT max(id) + 1 FROM order_items").fetchone()[0]
        con.execute(
            "INSERT INTO order_items VALUES (?, 1, 1, 0, 9.99, '2099-01-01 00:00:00')", (next_id,)
        )  # quantity 0 breaks the staging audit
    with pytest.raises(PlatformError) as caught:
        run_all(settings)
    message = str(caught.value)
    assert "stg_shop__order_items" in message and "accepted_range" in message
    assert "published marts are unchanged" in message

    published = current_version(settings)
    assert published.version == first.published_version
    con, _ = connect_published(settings)
    with con:
        assert con.execute("SELECT count(*) FROM marts.fct_orders").fetchone()[0] == first.published_rows["fct_orders"]


def test_cli_shows_a_failing_audit_without_traceback(tmp_path):
    settings = settings_for(tmp_path / "data", **NO_CONTRACTS)
    run_all(settings)
    with sqlite3.connect(settings.source_path("shop")) as con:
        con.execute("UPDATE payments SET amount = -5, updated_at = '2099-01-01 00:00:00' WHERE id = 1")
    result = run_cli("run", data_dir=settings.data_dir, **NO_CONTRACTS)
    assert result.returncode == 1
    assert "stg_shop__payments" in result.stderr and "accepted_range" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failing_source_stops_no_other_and_the_run_says_which_failed(tmp_path, capsys):
    settings, data = _with_erp(tmp_path, {"things": {"cursor": None}})
    with contextlib.closing(sqlite3.connect(data / "erp.db")) as con, con:
        con.execute("CREATE TABLE things (id INTEGER, v TEXT)")
        con.executemany("INSERT INTO things VALUES (?, ?)", [(None, "keyless"), (None, "keyless too"), (1, "ok")])  # 2 of 3 invalid

    with pytest.raises(PartialRun) as caught:
        cmd_run(settings, argparse.Namespace())
    partial = caught.value.summary
    printed = capsys.readouterr().out
    assert "loaded from shop" in printed and "FAILED" in printed  # the summary, then the error (exit 1)
    assert list(partial.failed_sources) == ["erp"] and "2 of 3 rows" in partial.failed_sources["erp"]
    assert "Loading failed for erp" in str(caught.value) and "keyless" not in str(caught.value)
    assert partial.rows_loaded["shop"] and partial.publish_reason is not None
    latest = runlog.latest_per_job(settings.meta_path)
    statuses = [latest[job]["status"] for job in ("ingest:shop", "ingest:erp", "transform", "publish")]
    assert statuses == ["success", "failed", "success", "success"]

    # the shop's marts were whole: once erp is fixed, a complete run finds nothing of the shop to publish
    with contextlib.closing(sqlite3.connect(data / "erp.db")) as con, con:
        con.execute("DELETE FROM things WHERE id IS NULL")
    complete = run_all(settings)
    assert complete.rows_loaded == {"shop": {}, "erp": {"things": 1}}
    assert complete.publish_reason is None and complete.published_version == partial.published_version
    assert complete.published_rows == partial.published_rows


def test_a_table_whose_rows_fail_its_load_stops_no_other_table_of_its_source(tmp_path, capsys):
    settings, data = _with_erp(tmp_path, {"things": {"cursor": None}, "parts": {"cursor": "changed"}})
    with contextlib.closing(sqlite3.connect(data / "erp.db")) as con, con:
        con.execute("CREATE TABLE things (id INTEGER, v TEXT)")
        con.executemany("INSERT INTO things VALUES (?, ?)", [(None, "keyless"), (None, "keyless too"), (1, "ok")])  # 2 of 3 invalid
        con.execute("CREATE TABLE parts (id INTEGER PRIMARY KEY, name TEXT, changed INTEGER)")
        con.executemany("INSERT INTO parts VALUES (?, ?, 1)", [(i, f"part {i}") for i in range(1, 41)])

    with pytest.raises(PartialRun) as caught:
        cmd_run(settings, argparse.Namespace())
    partial = caught.value.summary
    printed = capsys.readouterr().out
    assert "erp.things" in printed and "FAILED" in printed
    assert not partial.failed_sources and list(partial.failed_tables) == ["erp.things"]
    assert "erp.things: 2 of 3 rows" in partial.failed_tables["erp.things"]
    assert "Loading failed for erp.things" in str(caught.value) and "keyless" not in str(caught.value)
    assert partial.rows_loaded["erp"] == {"parts": 40} and partial.rows_loaded["shop"]
    assert raw(settings, "erp", "parts") == [(40,)]
    assert partial.publish_reason is not None
    latest = runlog.latest_per_job(settings.meta_path)
    statuses = [latest[job]["status"] for job in ("ingest:shop", "ingest:erp", "transform", "publish")]
    assert statuses == ["success", "partial", "success", "success"]  # loaded, but not all of it: loud, not a success
    assert "erp.things" in latest["ingest:erp"]["error"]

    # the failed table's state did not move; once it is fixed, it loads, and the other tables' cursors held
    with contextlib.closing(sqlite3.connect(data / "erp.db")) as con, con:
        con.execute("DELETE FROM things WHERE id IS NULL")
        con.execute("UPDATE parts SET name = 'renamed', changed = 2 WHERE id = 7")
    complete = run_all(settings)
    assert complete.rows_loaded["erp"] == {"things": 1, "parts": 1}
    assert raw(settings, "erp", "parts", "SELECT count(*), count(*) FILTER (WHERE name = 'renamed') FROM t") == [(41, 1)]


def test_a_source_whose_every_table_fails_fails_as_a_whole(tmp_path):
    settings, data = _with_erp(tmp_path, {"things": {"cursor": None}, "others": {"cursor": None}})
    with contextlib.closing(sqlite3.connect(data / "erp.db")) as con, con:
        for table in ("things", "others"):
            con.execute(f"CREATE TABLE {table} (id INTEGER, v TEXT)")
            con.executemany(f"INSERT INTO {table} VALUES (?, ?)", [(None, "keyless"), (None, "keyless too"), (1, "ok")])
    run = open_run(settings)
    run.lake.ensure_layers()
    with pytest.raises(PlatformError) as caught:
        stages.ingest(run, "erp")
    message = str(caught.value)
    assert "erp.things" in message and "erp.others" in message and "keyless" not in message
    assert not isinstance(caught.value, PartialIngest) or not caught.value.result.rows


def test_a_declared_sqlite_table_the_file_lacks_is_named_and_stops_no_other(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with contextlib.closing(sqlite3.connect(data / "erp.db")) as con, con:
        con.execute("CREATE TABLE Things (id INTEGER PRIMARY KEY, v TEXT)")  # SQLite's names ignore case
        con.executemany("INSERT INTO Things VALUES (?, ?)", [(i, f"thing {i}") for i in range(1, 6)])
        con.execute("CREATE VIEW few AS SELECT * FROM things WHERE id <= 2")
    tables = {"things": {"cursor": None}, "few": {"cursor": None}, "gone": {"cursor": None}, "lost": {"source_table": "nowhere"}}
    settings = settings_with_sources(tmp_path, {"erp": {"kind": "sqlite", "path": str(data / "erp.db"), "tables": tables}})
    with pytest.raises(PartialIngest) as caught:
        stages.ingest(open_run(settings), "erp")
    partial = caught.value.result
    assert sorted(partial.failed_tables) == ["gone", "lost"]
    assert "no table or view 'nowhere'" in partial.failed_tables["lost"] and "sources.erp.tables.lost" in partial.failed_tables["lost"]
    assert partial.rows == {"things": 5, "few": 2}
    assert "Traceback" not in str(caught.value) and "INTERNAL" not in str(caught.value)
