"""SQLite picks the rows an incremental cursor may select; the scanner reads them exactly as it reads the table."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3

import pytest

from core import warehouse
from ingest.sqlite_candidates import candidate_rows

# The cursor stored every way SQLite lets a source store it; the scanner reads each as a timestamp.
ROWS = [
    (1, "2025-01-10 08:00:00", 0.1 + 0.2),
    (2, "2025-01-19 23:59:59.999999", 1 / 3),
    (3, "2025-01-20T00:00:00", 2.5),
    (4, "2025-01-20 10:00:00.5", 1e-300),
    (5, "2025-01-21 00:30:00+02:00", -0.0),
    (6, None, 3.0),
    (7, 1737400000, 4.0),  # epoch seconds: 2025-01-20 19:06:40
    (8, 1736000000, 5.0),  # epoch seconds: 2025-01-04 14:13:20
    (9, "2025-01-22", 6.0),
    (10, "2024-12-31 23:00:00", 7.0),
    (11, "2025 01 21 10:00:00", 8.0),  # sorts before "2025-", reads as a later time
    (12, " 2025-01-23 08:00:00", 9.0),  # a leading space: the same
    (13, "2025/01/05 10:00:00", 10.0),  # sorts after "2025-", reads as an earlier time
    (14, "2025-1-25 10:00:00", 11.0),  # no zero padding
    (15, "2025-1-5 10:00:00", 12.0),
    (16, 2460695.5, 13.0),  # a REAL: epoch seconds to DuckDB
]


def _source(path, *, generated: bool = False, indexed: bool = True):
    con = sqlite3.connect(path)
    extra = ", doubled REAL GENERATED ALWAYS AS (amount * 2) VIRTUAL" if generated else ""
    con.execute(f"CREATE TABLE Orders (id INTEGER PRIMARY KEY, updated_at TIMESTAMP, amount REAL{extra})")
    if indexed:
        con.execute("CREATE INDEX orders_updated ON Orders (updated_at, id)")
    con.executemany("INSERT INTO Orders (id, updated_at, amount) VALUES (?, ?, ?)", ROWS)
    con.commit()
    con.close()
    return path


def _read(path, last_value):
    sql = "SELECT * FROM sqlite_scan(?, 'orders') WHERE updated_at >= ? ORDER BY id"
    with contextlib.closing(warehouse.connect(extensions=("sqlite_scanner",))) as con:
        return con.execute(sql, [str(path), last_value]).to_arrow_table()


def _count(path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as con:
        return con.execute("SELECT count(*) FROM orders").fetchone()[0]


@pytest.mark.parametrize(
    "last_value",
    [
        dt.datetime(2025, 1, 20),
        dt.datetime(2025, 1, 20, 10, 0, 0, 500000),
        dt.datetime(2025, 1, 21, 9),
        dt.datetime(2025, 1, 23),
        dt.date(2025, 1, 19),
        dt.datetime(2026, 1, 1),
        dt.datetime(2000, 1, 1),
    ],
)
def test_the_candidates_hold_every_row_the_cursor_selects_with_the_same_values(tmp_path, last_value):
    source = _source(tmp_path / "shop.db")
    whole = _read(source, last_value)
    with candidate_rows(source, "orders", "updated_at", last_value) as copy:
        assert copy != source
        assert _read(copy, last_value).equals(whole)  # same schema, same values, bit for bit
        picked = _count(copy)
    assert picked < len(ROWS) or last_value.year == 2000
    assert not copy.exists(), "the scratch copy outlives its reader"


def test_rows_older_than_a_day_before_the_last_value_stay_in_sqlite(tmp_path):
    source = _source(tmp_path / "shop.db")
    with candidate_rows(source, "orders", "updated_at", dt.datetime(2025, 1, 20, 12)) as copy:
        with contextlib.closing(sqlite3.connect(copy)) as con:
            ids = [row[0] for row in con.execute("SELECT id FROM orders ORDER BY id")]
    # texts from "2025-01-19" on, NULL, numbers, and older texts not written "YYYY-"
    assert ids == [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16]


def test_what_cannot_be_copied_is_read_from_the_source(tmp_path):
    source = _source(tmp_path / "shop.db", generated=True)
    last_value = dt.datetime(2025, 1, 20)
    with candidate_rows(source, "orders", "updated_at", last_value) as path:
        assert path == source  # SQLite refuses to insert into a generated column
    with candidate_rows(source, "orders", "id", 5) as path:
        assert path == source  # a numeric cursor: nothing to narrow by date
    with candidate_rows(source, "no_such_table", "updated_at", last_value) as path:
        assert path == source  # the scanner names the missing table itself
    unindexed = _source(tmp_path / "unindexed.db", indexed=False)
    with candidate_rows(unindexed, "orders", "updated_at", last_value) as path:
        assert path == unindexed  # SQLite would scan the whole table too
