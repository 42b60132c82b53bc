"""The metadata store migrates every earlier file to the current schema, keeping its rows."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from core import accesslog, metastore, runlog
from core.errors import PlatformError

TABLES = {
    "job_runs",
    "scheduled_jobs",
    "alerts",
    "monitor_results",
    "audit_results",
    "contract_results",
    "landing_files",
    "access_log",
    "erasures",
    "revoked_sessions",
}
INDEXES = {
    "job_runs_by_job",
    "monitor_results_by_check",
    "audit_results_by_model",
    "contract_results_by_table",
    "access_log_by_time",
    "erasures_by_table",
}

# What the modules wrote before the store was versioned (version 0): each feature's own DDL, run when it first ran.
UNVERSIONED_JOB_RUNS = """
CREATE TABLE job_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, trigger TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, rows_in INTEGER, rows_out INTEGER, error TEXT
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at);
"""
UNVERSIONED_OTHERS = """
CREATE TABLE scheduled_jobs (job_id TEXT PRIMARY KEY, next_run_at TEXT, paused INTEGER NOT NULL DEFAULT 0, trigger TEXT);
CREATE TABLE alerts (
    alert_key TEXT PRIMARY KEY, opened_at TEXT NOT NULL, last_sent_at TEXT, closed_at TEXT, severity TEXT NOT NULL, message TEXT NOT NULL
);
CREATE TABLE monitor_results (
    checked_at TEXT NOT NULL, check_name TEXT NOT NULL, subject TEXT NOT NULL, status TEXT NOT NULL, value REAL, threshold REAL, detail TEXT
);
CREATE INDEX monitor_results_by_check ON monitor_results (check_name, subject, checked_at);
CREATE TABLE audit_results (
    checked_at TEXT NOT NULL, environment TEXT NOT NULL, model TEXT NOT NULL, audit TEXT NOT NULL, blocking INTEGER NOT NULL,
    status TEXT NOT NULL, failed_rows INTEGER NOT NULL
);
CREATE INDEX audit_results_by_model ON audit_results (model, checked_at);
CREATE TABLE contract_results (
    checked_at TEXT NOT NULL, source TEXT NOT NULL, table_name TEXT NOT NULL, load_id TEXT, rows_in INTEGER NOT NULL,
    rows_valid INTEGER NOT NULL, rows_quarantined INTEGER NOT NULL
);
CREATE INDEX contract_results_by_table ON contract_results (source, table_name, checked_at);
CREATE TABLE landing_files (
    source TEXT NOT NULL, table_name TEXT NOT NULL, path TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL, rows INTEGER,
    rows_quarantined INTEGER, reason TEXT, load_id TEXT, processed_at TEXT NOT NULL, PRIMARY KEY (source, path, fingerprint)
);
"""
RUN = ("ingest:shop", "manual", 1, "2026-01-01T00:00:00.000+00:00", "2026-01-01T00:01:00.000+00:00", "success", 10, 10, None)
ROWS = {
    "scheduled_jobs": ("ingest:shop", "2026-01-02T00:00:00+00:00", 1, "cron[hour='2']"),
    "alerts": ("freshness:shop", "2026-01-01T00:00:00", None, None, "error", "stale"),
    "monitor_results": ("2026-01-01T00:00:00", "source_freshness", "shop", "fail", 30.0, 26.0, "30 h since the last load"),
    "audit_results": ("2026-01-01T00:00:00", "prod", "marts.fct_orders", "not_null", 1, "failed", 3),
    "contract_results": ("2026-01-01T00:00:00", "shop", "orders", "1", 100, 99, 1),
    "landing_files": ("drops", "orders", "a.csv", "10:1", "loaded", 5, 0, None, "1", "2026-01-01T00:00:00"),
}


def _schema(con: sqlite3.Connection) -> dict[str, object]:
    """Columns (name, type, not null, default, primary key) per table, and indexed columns per index."""
    tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'")}
    indexes = con.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    return {
        "tables": {table: [row[1:] for row in con.execute(f"PRAGMA table_info({table})")] for table in sorted(tables)},
        "indexes": {name: (table, [row[2] for row in con.execute(f"PRAGMA index_info({name})")]) for name, table in indexes},
    }


def _current_schema(tmp_path) -> dict[str, object]:
    with contextlib.closing(metastore.connect(tmp_path / "fresh" / "meta.db")) as con:
        return _schema(con)


def _assert_current_with_rows(meta_path, runs: list[tuple], current: dict[str, object], others: bool = True) -> None:
    with contextlib.closing(metastore.connect(meta_path)) as con:
        assert metastore.version(con) == metastore.VERSION
        assert _schema(con) == current
        assert (
            con.execute("SELECT job, trigger, attempt, started_at, finished_at, status, rows_in, rows_out, error FROM job_runs").fetchall()
            == runs
        )
        for table, row in ROWS.items():
            assert con.execute(f"SELECT * FROM {table}").fetchall() == ([row] if others else [])
        # The access log arrived with version 3: no earlier file has one, so it starts empty and takes rows.
        assert con.execute("SELECT count(*) FROM access_log").fetchone() == (0,)
    accesslog.record(meta_path, channel="api", principal="biz", action="GET /marts", status=200)
    with contextlib.closing(metastore.connect(meta_path)) as con:
        assert con.execute("SELECT channel, principal, action FROM access_log").fetchall() == [("api", "biz", "GET /marts")]


def test_a_new_store_has_every_table_and_index_at_the_current_version(tmp_path):
    current = _current_schema(tmp_path)
    assert set(current["tables"]) == TABLES
    assert set(current["indexes"]) == INDEXES
    assert [column[0] for column in current["tables"]["job_runs"]][-1] == "pid"
    with contextlib.closing(sqlite3.connect(tmp_path / "fresh" / "meta.db")) as con:
        assert metastore.version(con) == metastore.VERSION >= 3
    assert [column[0] for column in current["tables"]["access_log"]] == [
        "accessed_at",
        "channel",
        "principal",
        "action",
        "subject",
        "rows",
        "status",
        "detail",
        "version",  # version 6: the published version read, and the client's address
        "client",
    ]
    # version 4: the erasures, with the key and counts only
    assert [column[0] for column in current["tables"]["erasures"]] == [
        "erasure_id",
        "started_at",
        "finished_at",
        "source",
        "table_name",
        "subject_key",
        "rewritten",
    ]


def test_an_empty_file_is_migrated(tmp_path):
    meta = tmp_path / "meta.db"
    meta.touch()
    _assert_current_with_rows(meta, [], _current_schema(tmp_path), others=False)


@pytest.mark.parametrize("with_pid", [False, True], ids=["first release, no pid", "later release, with pid"])
def test_an_unversioned_store_is_migrated_keeping_its_rows(tmp_path, with_pid):
    meta = tmp_path / "meta.db"
    with contextlib.closing(sqlite3.connect(meta)) as con, con:
        con.executescript(UNVERSIONED_JOB_RUNS + UNVERSIONED_OTHERS)
        if with_pid:
            con.execute("ALTER TABLE job_runs ADD COLUMN pid INTEGER")
        con.execute(
            "INSERT INTO job_runs (job, trigger, attempt, started_at, finished_at, status, rows_in, rows_out, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            RUN,
        )
        for table, row in ROWS.items():
            con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    _assert_current_with_rows(meta, [RUN], _current_schema(tmp_path))
    # The run log works on the migrated file: the old run stays, a new one is recorded with its process.
    run_id = runlog.start_run(meta, "build", trigger="manual")
    assert [(run["job"], run["pid"] is not None) for run in runlog.last_runs(meta)] == [("build", True), ("ingest:shop", False)]
    assert run_id == 2


def test_an_unversioned_store_with_the_run_log_alone_gains_the_other_tables(tmp_path):
    """What a branch without the scheduler, the audits or the contracts left: job_runs only."""
    meta = tmp_path / "meta.db"
    with contextlib.closing(sqlite3.connect(meta)) as con, con:
        con.executescript(UNVERSIONED_JOB_RUNS)
        con.execute(
            "INSERT INTO job_runs (job, trigger, attempt, started_at, finished_at, status, rows_in, rows_out, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            RUN,
        )
    _assert_current_with_rows(meta, [RUN], _current_schema(tmp_path), others=False)


@pytest.mark.parametrize("version", range(1, metastore.VERSION))
def test_every_versioned_store_is_migrated_keeping_its_rows(tmp_path, version):
    meta = tmp_path / "meta.db"
    with contextlib.closing(sqlite3.connect(meta)) as con:
        metastore.migrate(con, target=version)
        assert metastore.version(con) == version
        with con:
            con.execute(
                "INSERT INTO job_runs (job, trigger, attempt, started_at, finished_at, status, rows_in, rows_out, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                RUN,
            )
            for table, row in ROWS.items():
                con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    _assert_current_with_rows(meta, [RUN], _current_schema(tmp_path))


def test_a_table_without_its_columns_is_named(tmp_path):
    meta = tmp_path / "meta.db"
    with contextlib.closing(sqlite3.connect(meta)) as con, con:
        con.execute("CREATE TABLE contract_results (checked_at TEXT, source TEXT)")
    with pytest.raises(
        PlatformError, match=r"meta\.db: table contract_results does not have the agreed columns \(missing table_name, load_id"
    ):
        metastore.connect(meta).close()
    # Nothing was half-migrated: the file is still at version 0 with its one table.
    with contextlib.closing(sqlite3.connect(meta)) as con:
        assert metastore.version(con) == 0
        assert [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["contract_results"]


def test_a_store_from_a_newer_release_is_refused(tmp_path):
    meta = tmp_path / "meta.db"
    with contextlib.closing(sqlite3.connect(meta)) as con:
        con.execute(f"PRAGMA user_version = {metastore.VERSION + 1}")
    with pytest.raises(PlatformError, match=rf"meta\.db is at metadata store version {metastore.VERSION + 1}, newer than"):
        metastore.connect(meta).close()
