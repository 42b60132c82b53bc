"""A SQL table declared without a cursor is a snapshot: taken whole each run, replacing the one before (issue 26)."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from pydantic import ValidationError

from core.run_context import open_run
from core.settings_sources import TableSettings
from ingest.pipeline import ingest_source
from tests.support.sources import raw, settings_with_sources


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
