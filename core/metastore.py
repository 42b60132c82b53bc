"""The metadata store (`data/meta.db`): the platform's own records in one SQLite file, apart from the warehouse.

This module owns the store's whole schema. The file carries its schema version
in SQLite's `user_version`; `MIGRATIONS` lists, in order, the steps from one
version to the next, and `connect` applies the missing ones whenever it opens
the file. Every reader and writer opens the store through `connect`, so each
sees every table, whichever features ran before.

Files written before the store was versioned are version 0. They hold the
tables of the features that had run, with the columns below, and `job_runs`
may lack `pid`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

from core.errors import PlatformError

# The tables as first released; later changes are migrations of their own.
FIRST_TABLES = {
    "job_runs": """
        CREATE TABLE IF NOT EXISTS job_runs (
            run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
            job         TEXT NOT NULL,
            trigger     TEXT NOT NULL,
            attempt     INTEGER NOT NULL DEFAULT 1,
            started_at  TEXT NOT NULL,
            finished_at TEXT,
            status      TEXT NOT NULL,
            rows_in     INTEGER,
            rows_out    INTEGER,
            error       TEXT
        )""",
    "scheduled_jobs": """
        CREATE TABLE IF NOT EXISTS scheduled_jobs (
            job_id      TEXT PRIMARY KEY,
            next_run_at TEXT,
            paused      INTEGER NOT NULL DEFAULT 0,
            trigger     TEXT
        )""",
    "alerts": """
        CREATE TABLE IF NOT EXISTS alerts (
            alert_key    TEXT PRIMARY KEY,
            opened_at    TEXT NOT NULL,
            last_sent_at TEXT,
            closed_at    TEXT,
            severity     TEXT NOT NULL,
            message      TEXT NOT NULL
        )""",
    "monitor_results": """
        CREATE TABLE IF NOT EXISTS monitor_results (
            checked_at TEXT NOT NULL,
            check_name TEXT NOT NULL,
            subject    TEXT NOT NULL,
            status     TEXT NOT NULL,
            value      REAL,
            threshold  REAL,
            detail     TEXT
        )""",
    "audit_results": """
        CREATE TABLE IF NOT EXISTS audit_results (
            checked_at  TEXT NOT NULL,
            environment TEXT NOT NULL,
            model       TEXT NOT NULL,
            audit       TEXT NOT NULL,
            blocking    INTEGER NOT NULL,
            status      TEXT NOT NULL,  -- passed | failed | warned
            failed_rows INTEGER NOT NULL
        )""",
    "contract_results": """
        CREATE TABLE IF NOT EXISTS contract_results (
            checked_at       TEXT NOT NULL,
            source           TEXT NOT NULL,
            table_name       TEXT NOT NULL,
            load_id          TEXT,
            rows_in          INTEGER NOT NULL,
            rows_valid       INTEGER NOT NULL,
            rows_quarantined INTEGER NOT NULL
        )""",
    "landing_files": """
        CREATE TABLE IF NOT EXISTS landing_files (
            source       TEXT NOT NULL,
            table_name   TEXT NOT NULL,
            path         TEXT NOT NULL,   -- relative to the source's landing folder
            fingerprint  TEXT NOT NULL,   -- size:mtime_ns; a file replaced under the same name is new
            status       TEXT NOT NULL,   -- loaded | rejected (unreadable, no rows, too many invalid rows, type drift refused)
            rows         INTEGER,         -- rows loaded (0 when rejected)
            rows_quarantined INTEGER,     -- rows set aside: unreadable, failing the contract, or of a drifted type (coerce)
            reason       TEXT,            -- why the file was rejected, naming the problem; for a loaded file, its type drift
            load_id      TEXT,
            processed_at TEXT NOT NULL,
            PRIMARY KEY (source, path, fingerprint)
        )""",
}
FIRST_INDEXES = (
    "CREATE INDEX IF NOT EXISTS job_runs_by_job ON job_runs (job, started_at)",
    "CREATE INDEX IF NOT EXISTS monitor_results_by_check ON monitor_results (check_name, subject, checked_at)",
    "CREATE INDEX IF NOT EXISTS audit_results_by_model ON audit_results (model, checked_at)",
    "CREATE INDEX IF NOT EXISTS contract_results_by_table ON contract_results (source, table_name, checked_at)",
)


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in con.execute(f"PRAGMA table_info({table})")]


def _create_first_tables(con: sqlite3.Connection) -> None:
    """Version 1: the tables and indexes as first released.

    IF NOT EXISTS because a version-0 file holds some of them already; those must have their columns.
    """
    present = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    with contextlib.closing(sqlite3.connect(":memory:")) as reference:
        for table, ddl in FIRST_TABLES.items():
            if table in present:
                reference.execute(ddl)
                missing = [name for name in _columns(reference, table) if name not in _columns(con, table)]
                if missing:
                    raise PlatformError(
                        f"{_path(con)}: table {table} does not have the agreed columns (missing {', '.join(missing)}). "
                        "core/metastore.py holds the metadata store's schema; move the file aside to start a new store."
                    )
            con.execute(ddl)
    for index in FIRST_INDEXES:
        con.execute(index)


def _add_job_runs_pid(con: sqlite3.Connection) -> None:
    """Version 2: the process recording each run, so a run whose process is gone can be closed.

    Version-0 files of later releases have the column already.
    """
    if "pid" not in _columns(con, "job_runs"):
        con.execute("ALTER TABLE job_runs ADD COLUMN pid INTEGER")


def _create_access_log(con: sqlite3.Connection) -> None:
    """Version 3: who read what and when, from the API and the app (core/accesslog.py writes it).

    It never holds a secret (no key, no hash) nor a value read or filtered on: only names.
    """
    con.execute("""
        CREATE TABLE access_log (
            accessed_at TEXT NOT NULL,    -- UTC, ISO 8601
            channel     TEXT NOT NULL,    -- api | app | mcp
            principal   TEXT NOT NULL,    -- the API key's name or the app user's ('anonymous' without logins)
            action      TEXT NOT NULL,    -- api: the route, e.g. GET /marts/{mart}/rows; app: view | download
            subject     TEXT,             -- the mart, metric, page or download read, when the request named a known one
            rows        INTEGER,          -- rows returned
            status      INTEGER,          -- the API's HTTP status
            detail      TEXT              -- parameter and column names (filters, grain, format), never their values
        )""")
    con.execute("CREATE INDEX access_log_by_time ON access_log (accessed_at)")


def _create_erasures(con: sqlite3.Connection) -> None:
    """Version 4: the erasures of personal data, and the erasure list every ingest applies (core/erasures.py).

    It holds no personal value: the subject's key (a surrogate id that stays in the data, see
    docs/erasure.md) and counts of what was rewritten.
    """
    con.execute("""
        CREATE TABLE erasures (
            erasure_id  INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at  TEXT NOT NULL,    -- UTC, ISO 8601; from then on every ingest erases the key
            finished_at TEXT,             -- NULL: the erasure was interrupted; `just erase` again completes it
            source      TEXT NOT NULL,
            table_name  TEXT NOT NULL,
            subject_key TEXT NOT NULL,    -- the row's primary key, as text
            rewritten   TEXT              -- JSON: rows or files rewritten per layer
        )""")
    con.execute("CREATE INDEX erasures_by_table ON erasures (source, table_name)")


def _create_revoked_sessions(con: sqlite3.Connection) -> None:
    """Version 5: the app's login cookies ended by "Log out" before they expire (app/session.py); only their hash."""
    con.execute("""
        CREATE TABLE revoked_sessions (
            token_sha256 TEXT PRIMARY KEY,  -- hex SHA-256 of the cookie value, never the value
            expires_at   INTEGER NOT NULL   -- unix seconds: the cookie's own expiry, after which the row may go
        )""")


def _add_access_log_version_and_client(con: sqlite3.Connection) -> None:
    """Version 6: the published version each read was served from, and the client's address."""
    con.execute("ALTER TABLE access_log ADD COLUMN version TEXT")  # the published version read, when one was
    con.execute("ALTER TABLE access_log ADD COLUMN client TEXT")  # the caller's IP address (the API's; the app's when known)


def _keep_landing_history(con: sqlite3.Connection) -> None:
    """Version 7: one row per taking of a landed file (a replay or a reingest adds a row), not per file version."""
    con.execute("""
        CREATE TABLE landing_files_history (
            source       TEXT NOT NULL,
            table_name   TEXT NOT NULL,
            path         TEXT NOT NULL,   -- relative to the source's landing folder
            fingerprint  TEXT NOT NULL,   -- size:mtime_ns; a file replaced under the same name is new
            status       TEXT NOT NULL,   -- loaded | rejected (unreadable, no rows, too many invalid rows, type drift refused)
            rows         INTEGER,         -- rows loaded (0 when rejected)
            rows_quarantined INTEGER,     -- rows set aside: unreadable, failing the contract or the key, superseded in the file
            reason       TEXT,            -- why the file was rejected, naming the problem; for a loaded file, what was noticed
            load_id      TEXT NOT NULL,   -- the load that took the file this time
            processed_at TEXT NOT NULL,
            PRIMARY KEY (source, path, fingerprint, load_id)
        )""")
    con.execute(
        "INSERT INTO landing_files_history SELECT source, table_name, path, fingerprint, status, rows, rows_quarantined, reason, "
        "coalesce(load_id, ''), processed_at FROM landing_files"
    )
    con.execute("DROP TABLE landing_files")
    con.execute("ALTER TABLE landing_files_history RENAME TO landing_files")


# Append only: the step at index i takes a file from version i to version i + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_first_tables,
    _add_job_runs_pid,
    _create_access_log,
    _create_erasures,
    _create_revoked_sessions,
    _add_access_log_version_and_client,
    _keep_landing_history,
)
VERSION = len(MIGRATIONS)


def connect(meta_path: Path) -> sqlite3.Connection:
    """Open the metadata store at `meta_path`, creating it or migrating it to `VERSION` first."""
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(meta_path, timeout=30)
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
    return con


def migrate(con: sqlite3.Connection, target: int = VERSION) -> None:
    """Apply the migrations that take the open store from its version to `target`, in one transaction."""
    if version(con) == target:
        return
    isolation = con.isolation_level
    con.isolation_level = None
    # IMMEDIATE: two processes opening an old file at once must not both migrate it.
    con.execute("BEGIN IMMEDIATE")
    try:
        current = version(con)
        if current > VERSION:
            raise PlatformError(
                f"{_path(con)} is at metadata store version {current}, newer than this platform's {VERSION}: "
                "a newer release wrote it. Upgrade the platform, or move the file aside to start a new store."
            )
        for step in MIGRATIONS[current:target]:
            step(con)
        con.execute(f"PRAGMA user_version = {max(current, target):d}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.isolation_level = isolation


def version(con: sqlite3.Connection) -> int:
    """The schema version the open store is at (0 for a new file or one from before versioning)."""
    return con.execute("PRAGMA user_version").fetchone()[0]


def _path(con: sqlite3.Connection) -> str:
    return con.execute("PRAGMA database_list").fetchone()[2]
