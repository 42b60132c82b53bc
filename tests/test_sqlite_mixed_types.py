"""SQLite keeps any value in any column (an INTEGER column may hold '' or 'N/A', a DATE column 'unknown').
DuckDB's scanner refused such a table whole, and with it every table of the source. Now the table is read
again with each such value in its column's variant for its storage class (`<column>__v_text`, `__v_double`,
`__v_binary`), its column NULL in that row; every other value loads as the scanner reads it, no row is lost,
and the run says so. Generated tables: columns of each declared type, values of every storage class."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import sqlite3

import pytest

from core.run_context import open_run
from ingest.pipeline import ingest_source
from tests.support.sources import raw, settings_with_sources

DECLARED = ("INTEGER", "REAL", "TEXT", "DATE", "DATETIME")
MISFIT_TEXTS = ("", "N/A", "abc", "12abc", "2025-13-45", "2025-02-30", "unknown")


def _value(rng: random.Random, declared: str) -> tuple[object, bool]:
    """A value for a column of `declared` type, and whether DuckDB's scanner reads it as that type."""
    day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 2000))
    fits = {
        "INTEGER": lambda: rng.randint(-(2**62), 2**62),
        "REAL": lambda: rng.choice([rng.uniform(-1e9, 1e9), rng.randint(-1000, 1000)]),
        "TEXT": lambda: rng.choice(["x", "N/A", "", "2025-01-01", str(rng.randint(0, 99))]),
        "DATE": lambda: day.isoformat(),
        "DATETIME": lambda: f"{day.isoformat()}{rng.choice([' ', 'T'])}{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:00",
    }
    misfits = {
        "INTEGER": lambda: rng.choice([rng.choice(MISFIT_TEXTS), rng.uniform(-1e6, 1e6) + 0.5, bytes([rng.randint(0, 255)])]),
        "REAL": lambda: rng.choice([rng.choice(MISFIT_TEXTS), bytes([1, 2])]),
        "TEXT": lambda: bytes([0, rng.randint(0, 255)]),
        "DATE": lambda: rng.choice(MISFIT_TEXTS),
        "DATETIME": lambda: rng.choice([rng.choice(MISFIT_TEXTS), b"\x07"]),
    }
    if rng.random() < 0.1:
        return None, True
    if rng.random() < 0.25:
        return misfits[declared](), False
    return fits[declared](), True


def _typed(declared: str, value):
    """What raw holds for a value that fits its column."""
    if value is None:
        return None
    if declared == "REAL":
        return float(value)
    if declared == "DATE":
        return dt.date.fromisoformat(value)
    if declared == "DATETIME":
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value


def _variant(value) -> str:
    return {str: "__v_text", float: "__v_double", bytes: "__v_binary"}[type(value)]


@pytest.mark.parametrize("seed", range(6))
def test_values_of_another_type_than_their_column_go_to_its_variants_and_no_row_is_lost(tmp_path, seed):
    rng = random.Random(seed)
    columns = {f"c{i}": rng.choice(DECLARED) for i in range(5)}
    rows = [(row, *(_value(rng, declared)[0] for declared in columns.values())) for row in range(1, 81)]
    (tmp_path / "data").mkdir()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute(f"CREATE TABLE things (id INTEGER PRIMARY KEY, {', '.join(f'{c} {d}' for c, d in columns.items())}, other TEXT)")
        con.executemany(f"INSERT INTO things VALUES ({', '.join('?' * (len(columns) + 2))})", [(*row, "fine") for row in rows])
        con.execute("CREATE TABLE clean (id INTEGER PRIMARY KEY, v INTEGER)")
        con.execute("INSERT INTO clean VALUES (1, 10), (2, 20)")
    tables = {"things": {"cursor": None}, "clean": {"cursor": None}}
    settings = settings_with_sources(tmp_path, {"erp": {"kind": "sqlite", "path": "erp.db", "tables": tables}})

    result = ingest_source(open_run(settings), "erp")

    assert result.rows == {"things": len(rows), "clean": 2}
    loaded = raw(settings, "erp", "things", "SELECT * EXCLUDE (_dlt_load_id) FROM t")
    names = [n for (n,) in raw(settings, "erp", "things", "SELECT column_name FROM (DESCRIBE t) WHERE column_name != '_dlt_load_id'")]
    by_id = {row[0]: dict(zip(names, row, strict=True)) for row in loaded}
    misfits = 0
    for row in rows:
        landed = by_id[row[0]]
        for (column, declared), value in zip(columns.items(), row[1:], strict=True):
            fits = _fits(declared, value)
            variants = {name: landed[name] for name in names if name.startswith(column + "__v_")}
            if fits:
                assert landed[column] == _typed(declared, value), (column, declared)
                assert not any(variants.values()), (column, variants)
            else:
                misfits += 1
                assert landed[column] is None
                assert variants == {**dict.fromkeys(variants), column + _variant(value): value}, (column, declared)
        assert landed["other"] == "fine"
    warned = [w for w in result.warnings if "another type than their column declares" in w]
    assert len(warned) == (1 if misfits else 0), result.warnings
    assert raw(settings, "erp", "clean", "SELECT id, v FROM t ORDER BY id") == [(1, 10), (2, 20)]


def _fits(declared: str, value) -> bool:
    """The oracle: whether the scanner reads the stored value as the column's type (SQLite's storage class; a
    date or timestamp also as text that is a real date)."""
    if value is None:
        return True
    if declared == "INTEGER":
        return isinstance(value, int)
    if declared == "REAL":
        return isinstance(value, (int, float))
    if declared == "TEXT":
        return not isinstance(value, bytes)
    try:
        dt.datetime.fromisoformat(value)
        return isinstance(value, str)
    except (TypeError, ValueError):
        return False


def test_the_next_run_of_a_table_with_a_cursor_loads_only_its_new_rows(tmp_path):
    (tmp_path / "data").mkdir()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, qty INTEGER, updated_at DATETIME)")
        con.executemany("INSERT INTO things VALUES (?, ?, ?)", [(1, 5, "2025-01-01 10:00:00"), (2, "", "2025-01-02 10:00:00")])
    settings = settings_with_sources(tmp_path, {"erp": {"kind": "sqlite", "path": "erp.db", "tables": {"things": {}}}})
    assert ingest_source(open_run(settings), "erp").rows == {"things": 2}
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute("INSERT INTO things VALUES (3, 'N/A', '2025-01-03 10:00:00'), (4, 7, '2025-01-03 11:00:00')")
    assert ingest_source(open_run(settings), "erp").rows == {"things": 2}
    assert raw(settings, "erp", "things", "SELECT id, qty, qty__v_text FROM t ORDER BY id") == [
        (1, 5, None),
        (2, None, ""),
        (3, None, "N/A"),
        (4, 7, None),
    ]


def test_a_table_and_columns_raw_names_otherwise_load_with_their_cursor_and_hard_deletes(tmp_path):
    """Northwind's `Order Details`: a table name raw cannot take (`source_table`), a composite key and a cursor
    named in CamelCase (declared as raw names them: `order_id`, `updated_at`); a later run takes only the new rows,
    and a deleted key is found."""
    (tmp_path / "data").mkdir()
    database = tmp_path / "data" / "northwind.db"
    with contextlib.closing(sqlite3.connect(database)) as con, con:
        con.execute('CREATE TABLE "Order Details" ("OrderID" INTEGER, "ProductID" INTEGER, "Quantity" INTEGER, "UpdatedAt" DATETIME)')
        con.execute('CREATE INDEX by_update ON "Order Details" ("UpdatedAt")')
        con.executemany(
            'INSERT INTO "Order Details" VALUES (?, ?, ?, ?)', [(1, 1, 2, "2025-01-01 10:00:00"), (1, 2, 1, "2025-01-01 10:00:00")]
        )
    declared = {
        "source_table": "Order Details",
        "primary_key": ["order_id", "product_id"],
        "cursor": "updated_at",
        "detect_hard_deletes": True,
    }
    settings = settings_with_sources(tmp_path, {"nw": {"kind": "sqlite", "path": "northwind.db", "tables": {"order_details": declared}}})
    assert ingest_source(open_run(settings), "nw").rows == {"order_details": 2}

    with contextlib.closing(sqlite3.connect(database)) as con, con:
        con.execute("INSERT INTO \"Order Details\" VALUES (2, 1, 5, '2025-01-02 10:00:00')")
        con.execute('DELETE FROM "Order Details" WHERE "OrderID" = 1 AND "ProductID" = 2')
    assert ingest_source(open_run(settings), "nw").rows == {"order_details": 1, "order_details__deleted": 1}
    assert raw(settings, "nw", "order_details", "SELECT order_id, product_id, quantity FROM t ORDER BY ALL") == [
        (1, 1, 2),
        (1, 2, 1),
        (2, 1, 5),
    ]
    assert raw(settings, "nw", "order_details__deleted", "SELECT order_id, product_id FROM t") == [(1, 2)]
