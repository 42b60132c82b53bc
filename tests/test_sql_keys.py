"""A SQL table's rows whose key staging could not use go to quarantine, as a file drop's do, and every other row
loads: a row with no value in (part of) its key (`key_missing`, naming the first such column: a NULL key would
merge such rows into one), and rows that share their key and cursor value (their key, without a cursor) but
differ (`duplicate_key`: which one is current is unknown, and staging would keep either), also when they come
in different chunks of the read. Rows equal in every column load as they are. Generated tables, one or two key
columns, with and without a cursor, a key spelled otherwise in the database (`ID`) than in raw (`id`), declared
as raw names it, of one chunk and of three (2,600 rows, `chunk_size` 1,000), through SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from core.errors import PlatformError
from core.lake import Lake
from core.run_context import open_run
from ingest.pipeline import ingest_source
from ingest.sql_ties import SharedKeys
from tests.support.postgres import PASSWORD, connect, source_of
from tests.support.sources import quarantine, raw, settings_with_sources

CHUNK = 1_000  # the smallest chunk_size a source takes
SIZES = [80, 2_600]  # one chunk; three, so that rows sharing a key come in different chunks


def _table(seed: int, size: int) -> tuple[list[str], str | None, list[tuple]]:
    """Key columns (the first spelled `ID` in the database), the cursor (or None) and `size` rows `(key parts...,
    day, value)`: keys from a small range, so that they repeat; some NULL; some rows repeated whole."""
    rng = random.Random(seed)
    keys = ["ID"] if seed % 2 else ["ID", "line_no"]
    cursor = "day" if seed % 4 < 2 else None
    rows: list[tuple] = []
    while len(rows) < size:
        if rows and rng.random() < 0.1:
            rows.append(rng.choice(rows))
            continue
        key = tuple(None if rng.random() < 0.08 else rng.randint(1, 30 * size // 80) for _ in keys)
        rows.append((*key, rng.randint(1, 3), f"v{rng.randint(1, 4)}"))
    return keys, cursor, rows


def _expected(keys: list[str], cursor: str | None, rows: list[tuple]) -> tuple[Counter, list, Counter]:
    """Rows loaded (with how often), `key_missing` rows (column, value), `duplicate_key` rows (with how often)."""
    width = len(keys) + (1 if cursor else 0)
    usable = [row for row in rows if None not in row[: len(keys)]]
    versions: dict[tuple, set] = {}
    for row in usable:
        versions.setdefault(row[:width], set()).add(row)
    tied = Counter(row for row in usable if len(versions[row[:width]]) > 1)
    loaded = Counter(row for row in usable if len(versions[row[:width]]) == 1)
    first = _declared(keys, cursor)["primary_key"]
    first = first if isinstance(first, str) else first[0]
    missing = sorted((first if row[0] is None else "line_no", row[-1]) for row in rows if None in row[: len(keys)])
    return loaded, missing, tied


def _declared(keys: list[str], cursor: str | None) -> dict:
    named = ["id" if key == "ID" else key for key in keys]  # as raw names the database's `ID`
    return {"primary_key": named if len(named) > 1 else named[0], "cursor": cursor}


def _check(settings, source: str, keys: list[str], cursor: str | None, rows: list[tuple], stamped: bool) -> None:
    ingest_source(open_run(settings), source)
    loaded, missing, tied = _expected(keys, cursor, rows)
    # a timestamp cursor's day of the month is the drawn day; quarantine holds every value as text
    day, day_text = ("day(day)", "day(day::TIMESTAMPTZ)") if stamped else ("day", "day::BIGINT")
    columns = ", ".join(["id", *keys[1:], day, "v"])
    assert Counter(raw(settings, source, "things", f"SELECT {columns} FROM t")) == loaded
    assert sorted(quarantine(settings, source, "things", "SELECT _column, v FROM q WHERE _check = 'key_missing'")) == missing
    as_text = ", ".join([*(f"{c}::BIGINT" for c in ["id", *keys[1:]]), day_text])
    assert Counter(quarantine(settings, source, "things", f"SELECT {as_text}, v FROM q WHERE _check = 'duplicate_key'")) == tied


def _stamped(seed: int, cursor: str | None) -> bool:
    """Whether the cursor is a timestamp (`2025-01-<day> 10:00`) rather than a whole number."""
    return cursor is not None and seed % 2 == 1


def _columns(keys: list[str], stamped: bool) -> str:
    return ", ".join(f'"{k}" BIGINT' for k in keys) + f", day {'TIMESTAMP' if stamped else 'BIGINT'}, v TEXT"


def _stored(rows: list[tuple], stamped: bool) -> list[tuple]:
    """The rows as written: a timestamp cursor for the drawn day."""
    return [(*row[:-2], dt.datetime(2025, 1, row[-2], 10), row[-1]) for row in rows] if stamped else rows


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", range(8))
def test_sqlite_rows_staging_could_not_tell_apart_go_to_quarantine(tmp_path, seed, size):
    keys, cursor, rows = _table(seed, size)
    stamped = _stamped(seed, cursor)
    (tmp_path / "data").mkdir()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute(f"CREATE TABLE things ({_columns(keys, stamped)})")
        written = [tuple(str(v) if isinstance(v, dt.datetime) else v for v in row) for row in _stored(rows, stamped)]
        con.executemany(f"INSERT INTO things VALUES ({', '.join('?' * len(rows[0]))})", written)
    source = {
        "kind": "sqlite",
        "path": "erp.db",
        "chunk_size": CHUNK,
        "quality": {"max_bad_share": 1},
        "tables": {"things": _declared(keys, cursor)},
    }
    _check(settings_with_sources(tmp_path, {"erp": source}), "erp", keys, cursor, rows, stamped)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", range(4))
def test_postgres_rows_staging_could_not_tell_apart_go_to_quarantine(tmp_path, postgres, seed, size):
    keys, cursor, rows = _table(seed, size)
    stamped = _stamped(seed, cursor)
    schema = f"sql_keys_{seed}_{size}"
    with contextlib.closing(connect(postgres)) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE {schema}.things ({_columns(keys, stamped)})")
        with con.cursor() as insert:
            insert.executemany(f"INSERT INTO {schema}.things VALUES ({', '.join(['%s'] * len(rows[0]))})", _stored(rows, stamped))
    source = source_of(postgres, schema, {"things": _declared(keys, cursor)}, quality={"max_bad_share": 1}, chunk_size=CHUNK)
    _check(settings_with_sources(tmp_path, {"pg": source}, PG_PASSWORD=PASSWORD), "pg", keys, cursor, rows, stamped)


def test_a_share_of_rows_without_their_key_above_the_limit_refuses_the_load(tmp_path):
    (tmp_path / "data").mkdir()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute("CREATE TABLE things (id INTEGER, v TEXT)")
        con.executemany("INSERT INTO things VALUES (?, ?)", [(1, "a"), (None, "b")])
    source = {"kind": "sqlite", "path": "erp.db", "tables": {"things": {"cursor": None}}}
    settings = settings_with_sources(tmp_path, {"erp": source})
    with pytest.raises(PlatformError, match=r"1 of 2 rows \(50.0%\) are invalid.*First failures: id: key_missing"):
        ingest_source(open_run(settings), "erp")


def test_a_sqlite_key_of_another_type_than_its_column_is_key_type_naming_it(tmp_path):
    (tmp_path / "data").mkdir()
    rows = [(1, "a"), ("abc", "b"), (2, "c"), (2.5, "d"), (b"\x01", "e"), ("", "f"), (None, "g"), (3, "h")]
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute("CREATE TABLE things (id INTEGER, v TEXT)")
        con.executemany("INSERT INTO things VALUES (?, ?)", rows)
    source = {"kind": "sqlite", "path": "erp.db", "quality": {"max_bad_share": 1}, "tables": {"things": {"cursor": None}}}
    settings = settings_with_sources(tmp_path, {"erp": source})
    ingest_source(open_run(settings), "erp")

    assert raw(settings, "erp", "things", "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "c"), (3, "h")]
    assert not [c for (c,) in raw(settings, "erp", "things", "SELECT column_name FROM (DESCRIBE t)") if c.startswith("id__v_")]
    aside = quarantine(settings, "erp", "things", "SELECT v, _check, _column, _failure FROM q ORDER BY v")
    assert aside == [
        ("b", "key_type", "id", "a text value in a key column loaded as another type"),
        ("d", "key_type", "id", "a double value in a key column loaded as another type"),
        ("e", "key_type", "id", "a binary value in a key column loaded as another type"),
        ("f", "key_missing", "id", None),
        ("g", "key_missing", "id", None),
    ]


# Another process writes: SQLite's locks do not keep apart two connections of one process.
SQLITE_WRITER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=120, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO things VALUES (7, 1, 'changed meanwhile')")
print("written", flush=True)
con.execute("COMMIT")
"""


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_sqlite_row_committed_while_the_ties_are_asked_is_read_in_their_snapshot_or_after_the_read(tmp_path, monkeypatch, journal):
    # 1,500 rows of distinct keys, id 7 early in the table: it comes in the first chunk of 1,000
    (tmp_path / "data").mkdir()
    database = tmp_path / "data" / "erp.db"
    with contextlib.closing(sqlite3.connect(database)) as con, con:
        con.execute(f"PRAGMA journal_mode={journal}")
        con.execute("CREATE TABLE things (id BIGINT, day BIGINT, v TEXT)")
        con.executemany("INSERT INTO things VALUES (?, ?, ?)", [(i, 1, f"v{i}") for i in range(1, 1501)])
    declared = {"things": {"primary_key": "id", "cursor": None}}
    source = {"kind": "sqlite", "path": "erp.db", "chunk_size": CHUNK, "quality": {"max_bad_share": 1}, "tables": declared}
    settings = settings_with_sources(tmp_path, {"erp": source})
    found = SharedKeys.found
    writers: list[subprocess.Popen] = []

    def commit_a_tie_then_answer(self, values):
        # After the ties were asked and before the read, a writer commits (WAL), or tries to (a rollback
        # journal: its commit then waits for the read to end), a second version of key 7, at the end of the table.
        writer = subprocess.Popen([sys.executable, "-c", SQLITE_WRITER, str(database)], stdout=subprocess.PIPE, text=True)
        writers.append(writer)
        assert writer.stdout is not None and writer.stdout.readline() == "written\n"
        with contextlib.suppress(subprocess.TimeoutExpired):
            writer.wait(timeout=2)
        found(self, values)

    monkeypatch.setattr(SharedKeys, "found", commit_a_tie_then_answer)
    ingest_source(open_run(settings), "erp")
    monkeypatch.setattr(SharedKeys, "found", found)
    (writer,) = writers
    assert writer.wait(timeout=60) == 0  # committed: the row is there for the next load
    _key_7_once_then_both_versions_quarantined(settings, "erp")


@pytest.mark.slow
def test_a_postgres_row_committed_while_the_ties_are_asked_is_read_in_their_snapshot_or_not_at_all(tmp_path, postgres, monkeypatch):
    # 1,500 rows of distinct keys, id 7 early in the table: dlt reads it in the first chunk of 1,000
    schema = "sql_keys_race"
    with contextlib.closing(connect(postgres)) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE {schema}.things (id BIGINT, day BIGINT, v TEXT)")
        with con.cursor() as insert:
            insert.executemany(f"INSERT INTO {schema}.things VALUES (%s, %s, %s)", [(i, 1, f"v{i}") for i in range(1, 1501)])
    source = source_of(postgres, schema, {"things": {"primary_key": "id", "cursor": None}}, quality={"max_bad_share": 1}, chunk_size=CHUNK)
    settings = settings_with_sources(tmp_path, {"pg": source}, PG_PASSWORD=PASSWORD)
    found = SharedKeys.found

    def commit_a_tie_then_answer(self, values):
        # A writer commits, after the ties were asked and before the read: a second, differing row of key 7,
        # at the end of the table (the read's second chunk).
        with contextlib.closing(connect(postgres)) as con:
            con.execute(f"INSERT INTO {schema}.things VALUES (7, 1, 'changed meanwhile')")
        found(self, values)

    monkeypatch.setattr(SharedKeys, "found", commit_a_tie_then_answer)
    ingest_source(open_run(settings), "pg")
    monkeypatch.setattr(SharedKeys, "found", found)
    _key_7_once_then_both_versions_quarantined(settings, "pg")


@pytest.mark.slow
def test_a_postgres_server_that_exports_no_snapshot_is_still_asked_for_ties(tmp_path, postgres):
    # A role that may not call pg_export_snapshot (as on a server that cannot): the ties are asked all the same.
    schema = "sql_keys_no_export"
    with contextlib.closing(connect(postgres)) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE {schema}.things (id BIGINT, day BIGINT, v TEXT)")
        rows = [(i, 1, f"v{i}") for i in range(1, 1501)] + [(7, 1, "a second version")]
        with con.cursor() as insert:
            insert.executemany(f"INSERT INTO {schema}.things VALUES (%s, %s, %s)", rows)
        con.execute(f"DROP ROLE IF EXISTS reader; CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'")
        con.execute(f"GRANT USAGE ON SCHEMA {schema} TO reader; GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO reader")
        con.execute("REVOKE EXECUTE ON FUNCTION pg_export_snapshot() FROM PUBLIC")
    try:
        declared = {"things": {"primary_key": "id", "cursor": None}}
        source = source_of({**postgres, "user": "reader"}, schema, declared, quality={"max_bad_share": 1}, chunk_size=CHUNK)
        settings = settings_with_sources(tmp_path, {"pg": source}, PG_PASSWORD=PASSWORD)
        ingest_source(open_run(settings), "pg")
    finally:
        with contextlib.closing(connect(postgres)) as con:
            con.execute("GRANT EXECUTE ON FUNCTION pg_export_snapshot() TO PUBLIC")
    assert raw(settings, "pg", "things", "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id = 7) FROM t") == [(1499, 1499, 0)]
    assert sorted(quarantine(settings, "pg", "things", "SELECT v FROM q WHERE _check = 'duplicate_key'")) == [
        ("a second version",),
        ("v7",),
    ]


def _key_7_once_then_both_versions_quarantined(settings, source: str) -> None:
    """After a load that read `<source>.things` in the snapshot its ties were asked in: key 7 once, as it was, and
    no tie quarantined. The next load reads the second version committed meanwhile, finds the tie, and
    quarantines both versions of key 7."""
    assert raw(settings, source, "things", "SELECT count(*), count(DISTINCT id) FROM t") == [(1500, 1500)]
    assert raw(settings, source, "things", "SELECT v FROM t WHERE id = 7") == [("v7",)]
    assert _quarantined_rows(settings, source) == 0

    ingest_source(open_run(settings), source)
    latest = "WHERE _dlt_load_id = (SELECT max(_dlt_load_id) FROM t)"
    assert raw(settings, source, "things", f"SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id = 7) FROM t {latest}") == [
        (1499, 1499, 0)
    ]
    assert sorted(quarantine(settings, source, "things", "SELECT v FROM q WHERE _check = 'duplicate_key'")) == [
        ("changed meanwhile",),
        ("v7",),
    ]


def _quarantined_rows(settings, source: str) -> int:
    """Rows of `<source>.things` in quarantine (none before its first quarantined row writes a file)."""
    lake = Lake(settings)
    return quarantine(settings, source, "things")[0][0] if lake.fs.glob(lake.parquet_glob("raw", source, "_quarantine/things")) else 0
