"""No row value in any message, alert, log or run history: errors name where and which rule, values stay in quarantine.

Each ingest route is fed rows whose failing value carries a marker: a contract failure that refuses a
whole SQLite batch, an Arrow cast failure, a file refused for too many invalid rows, a file refused for
type drift. The jobs run as the scheduler runs them (a worker process, the run history, alerts to a
real webhook and SMTP server on loopback); then the run history, the alerts, the logs, the metadata
store and the reports' snapshot are searched for the marker, and the messages must still name the
table, column and rule.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from core import metastore
from core.errors import describe_error, without_values
from publish.snapshot import write_snapshot
from scheduler.jobs import job_specs
from scheduler.runner import Runner
from tests.support.project import settings_for
from tests.support.receivers import channel_env
from tests.support.sources import quarantine, settings_with_sources

pytestmark = pytest.mark.slow

MARKER = "ZQX7MARK"
CUSTOMERS = "id,name,email,city,created_at,updated_at,deleted_at\n"


def _customer(i: int, email: str) -> str:
    return f"{i},Ann {i},{email},Berlin,2025-03-01 10:00:00,2025-03-02 10:00:00,\n"


def leaks(settings, webhook, smtp, log_text: str, snapshot: Path | None = None) -> list[str]:
    """Every place outside the quarantine that holds the marker."""
    found = []
    if MARKER in settings.meta_path.read_bytes().decode("latin-1"):
        found.append("meta.db")
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in con.execute(f"SELECT * FROM {table}").fetchall():
                if any(MARKER in str(value) for value in row):
                    found.append(f"meta.db {table}")
    logs = settings.data_dir / "logs"
    for path in logs.rglob("*") if logs.exists() else []:
        if path.is_file() and MARKER in path.read_text(errors="replace"):
            found.append(str(path.relative_to(settings.data_dir)))
    found += ["webhook" for message in webhook.received if MARKER in str(message)]
    found += ["smtp" for message in smtp.messages if MARKER in message["data"]]
    if MARKER in log_text:
        found.append("the scheduler's log")
    if snapshot is not None:
        with contextlib.closing(duckdb.connect(str(snapshot), read_only=True)) as con:
            for schema, table, column in con.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
            ).fetchall():
                if con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}" LIKE ?', [f"%{MARKER}%"]).fetchone()[0]:
                    found.append(f"snapshot {schema}.{table}.{column}")
    return found


def run_job(settings, job: str) -> tuple[str, str]:
    """The job as the scheduler runs it, alerts on: its status and the error it recorded."""
    status = Runner(settings, job_specs(settings)).run(job, "manual", retries=False, cascade=False)
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        (error,) = con.execute("SELECT error FROM job_runs WHERE job = ? ORDER BY run_id DESC LIMIT 1", (job,)).fetchone()
    return status, error or ""


def test_library_errors_lose_the_values_they_quote():
    assert without_values("Failed to parse string: 'ZQX7MARK@x' as a scalar of type int64") == (
        "Failed to parse string: '…' as a scalar of type int64"
    )
    assert without_values("CSV parse error: Expected 6 columns, got 7: 1,ZQX7MARK,placed") == "CSV parse error: Expected 6 columns, got 7"
    assert without_values("404 Client Error: Not Found for url: https://api.example.com/v1/users?email=ZQX7MARK%40x&page=2") == (
        "404 Client Error: Not Found for url: https://api.example.com/v1/users?…"
    )
    assert describe_error(ValueError('Could not convert string "ZQX7MARK" to INT32\nLINE 1: ZQX7MARK')) == (
        "ValueError: Could not convert string '…' to INT32"
    )
    try:
        try:
            raise ValueError('Could not convert string "ZQX7MARK" to INT32')
        except ValueError as cause:
            raise RuntimeError("Pipeline execution failed at 'load' with exception:\n\nZQX7MARK") from cause
    except RuntimeError as wrapped:
        assert describe_error(wrapped) == (
            "RuntimeError: Pipeline execution failed at '…' with exception: ValueError: Could not convert string '…' to INT32"
        )
    mismatch = 'Invalid type in column "customer_id": column was declared as integer, found "ZQX7MARK" of type "text" instead.'
    assert without_values("Casting from timestamp[ns] to timestamp[us] would lose data: 1740823200123456789") == (
        "Casting from timestamp[ns] to timestamp[us] would lose data"
    )
    assert without_values("Integer value 4815162342 not in range: -128 to 127") == "Integer value … not in range: -128 to 127"
    assert without_values("Float value 4815162342.500000 was truncated converting to int64") == (
        "Float value … was truncated converting to int64"
    )
    assert without_values(mismatch) == mismatch.replace('"ZQX7MARK"', "'…'")


def test_a_model_that_cannot_cast_a_value_is_named_without_the_value():
    from sqlmesh.utils.concurrency import NodeExecutionFailedError

    from transform.console import TallyConsole

    console = TallyConsole()
    failed = NodeExecutionFailedError('"staging"."stg_shop__orders"')
    try:
        duckdb.sql(f"SELECT '{MARKER}'::INTEGER").fetchall()
    except duckdb.Error as exc:
        failed.__cause__ = exc
    console.log_failed_models([failed])
    [error] = console.tally.errors
    assert "stg_shop__orders" in error and "Could not convert string" in error and "INT32" in error
    assert MARKER not in error


def test_a_refused_sqlite_batch_and_a_cast_failure_leave_no_value_behind(built, tmp_path, receivers, caplog):
    webhook, smtp = receivers
    shutil.copytree(built[0].data_dir, tmp_path / "data")
    settings = settings_for(tmp_path / "data", PLATFORM__SOURCES__SHOP__QUALITY__MAX_BAD_SHARE="0.1", **channel_env(webhook, smtp))
    source = settings.source_path("shop")
    caplog.set_level(logging.INFO)

    # every changed customer fails the e-mail rule: the whole batch is refused, nothing reaches raw or quarantine
    with contextlib.closing(sqlite3.connect(source)) as con, con:
        con.execute(f"UPDATE customers SET email = '{MARKER}.' || id, updated_at = '2099-01-01 00:00:00' WHERE id <= 5")
    status, error = run_job(settings, "ingest:shop")
    assert status == "partial"  # the shop's other tables loaded
    assert "shop.customers" in error and "email" in error and "str_matches" in error and "Nothing of it was loaded" in error

    # a value the source column's type cannot hold: it goes to the column's variant, and the contract refuses the
    # row's empty customer_id: the table is refused alone
    with contextlib.closing(sqlite3.connect(source)) as con, con:
        con.execute("UPDATE customers SET email = 'fixed' || id || '@example.com' WHERE id <= 5")
        con.execute(f"UPDATE orders SET customer_id = '{MARKER}-cast', updated_at = '2099-01-01 00:00:00' WHERE id = 3")
    status, error = run_job(settings, "ingest:shop")
    assert status == "partial" and "shop.orders" in error and "customer_id" in error

    snapshot = write_snapshot(settings).path
    assert webhook.received and smtp.messages  # the alerts were sent ...
    assert leaks(settings, webhook, smtp, caplog.text, snapshot) == []  # ... and nothing holds the value


def test_refused_files_name_file_line_column_and_rule_but_no_value(tmp_path, receivers, caplog):
    webhook, smtp = receivers
    drops = {
        "kind": "files",
        "landing": "landing/drops",
        "settle_seconds": 0,
        "quality": {"max_bad_share": 0.5},
        "tables": {
            "customers": {"pattern": "customers*", "pandera": "shop__customers"},
            "events": {"pattern": "events*", "on_type_drift": "refuse"},
        },
    }
    settings = settings_with_sources(tmp_path, {"drops": drops}, **channel_env(webhook, smtp))
    landing = settings.landing_path("drops")
    landing.mkdir(parents=True)
    caplog.set_level(logging.INFO)
    # all rows invalid: the file is refused; one invalid of three: loaded, the row quarantined
    (landing / "customers-1.csv").write_text(CUSTOMERS + "".join(_customer(i, f"{MARKER}.{i}") for i in (1, 2, 3)))
    (landing / "customers-2.csv").write_text(CUSTOMERS + _customer(4, "a@b.c") + _customer(5, f"{MARKER}.5") + _customer(6, "d@e.f"))
    # the second file drifts from the types the first one loaded (files are taken in order)
    (landing / "events-1.csv").write_text("id,amount\n1,5\n2,6\n")
    (landing / "events-2.csv").write_text(f"id,amount\n3,7\n4,{MARKER}\n")
    run_job(settings, "ingest:drops")

    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        reasons = dict(con.execute("SELECT path, reason FROM landing_files WHERE status = 'rejected'").fetchall())
    assert set(reasons) == {"customers-1.csv", "events-2.csv"}
    assert "email: str_matches" in reasons["customers-1.csv"] and "file customers-1.csv, line 2" in reasons["customers-1.csv"]
    assert "column 'amount' is bigint, got 1 text value(s), the first at line 3" in reasons["events-2.csv"]
    assert quarantine(settings, "drops", "customers", "SELECT _column, _failure FROM q") == [("email", f"{MARKER}.5")]
    assert leaks(settings, webhook, smtp, caplog.text) == []
