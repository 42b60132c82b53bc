"""A number that is not finite in a SQL source's float column (inf, -inf, NaN) follows the table's `non_finite`
policy as in a file drop: quarantined by default (`_check` non_finite, naming the column), kept with `keep`.
A text `NA` in a database is text: missing-value tokens are a reading of CSV fields only."""

from __future__ import annotations

import contextlib
import math
import sqlite3

import pytest

from core.run_context import open_run
from ingest.pipeline import ingest_source
from tests.support.postgres import PASSWORD, connect, source_of
from tests.support.sources import quarantine, raw, settings_with_sources

ROWS = [(1, "NA", 1.5), (2, "b", math.inf), (3, "c", -math.inf), (4, "d", 2.5)]


def _sqlite_source(tmp_path, **table) -> dict:
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute("CREATE TABLE readings (id INTEGER, label TEXT, value REAL)")
        con.executemany("INSERT INTO readings VALUES (?, ?, ?)", ROWS)
    return {"kind": "sqlite", "path": "erp.db", "quality": {"max_bad_share": 1}, "tables": {"readings": {"cursor": None, **table}}}


def test_a_sqlite_row_with_a_number_that_is_not_finite_is_quarantined_naming_the_column(tmp_path):
    (tmp_path / "data").mkdir()
    settings = settings_with_sources(tmp_path, {"erp": _sqlite_source(tmp_path)})
    result = ingest_source(open_run(settings), "erp")
    assert raw(settings, "erp", "readings", "SELECT id, label, value FROM t ORDER BY 1") == [(1, "NA", 1.5), (4, "d", 2.5)]
    assert quarantine(settings, "erp", "readings", "SELECT id, _check, _column FROM q ORDER BY 1") == [
        ("2", "non_finite", "value"),
        ("3", "non_finite", "value"),
    ]
    assert any("readings" in warning and "quarantined" in warning for warning in result.warnings), result.warnings


def test_non_finite_keep_loads_the_number_as_it_is(tmp_path):
    (tmp_path / "data").mkdir()
    settings = settings_with_sources(tmp_path, {"erp": _sqlite_source(tmp_path, non_finite="keep")})
    ingest_source(open_run(settings), "erp")
    assert raw(settings, "erp", "readings", "SELECT id, value FROM t ORDER BY 1") == [(1, 1.5), (2, math.inf), (3, -math.inf), (4, 2.5)]


@pytest.mark.slow
def test_a_postgres_nan_or_infinity_is_quarantined(tmp_path, postgres):
    with contextlib.closing(connect(postgres)) as con:
        con.execute("DROP SCHEMA IF EXISTS nf CASCADE; CREATE SCHEMA nf")
        con.execute("CREATE TABLE nf.readings (id BIGINT, label TEXT, value DOUBLE PRECISION)")
        with con.cursor() as cursor:
            cursor.executemany("INSERT INTO nf.readings VALUES (%s, %s, %s)", [*ROWS, (5, "e", math.nan)])
    source = source_of(postgres, "nf", {"readings": {"cursor": None}}, quality={"max_bad_share": 1})
    settings = settings_with_sources(tmp_path, {"pg": source}, PG_PASSWORD=PASSWORD)
    ingest_source(open_run(settings), "pg")
    assert raw(settings, "pg", "readings", "SELECT id, label, value FROM t ORDER BY 1") == [(1, "NA", 1.5), (4, "d", 2.5)]
    assert quarantine(settings, "pg", "readings", "SELECT id, _check, _column FROM q ORDER BY 1") == [
        ("2", "non_finite", "value"),
        ("3", "non_finite", "value"),
        ("5", "non_finite", "value"),
    ]
