"""A SQL table's row with no value in (part of) its declared key goes to quarantine as `key_missing`, naming the
first such column, as a file drop's does; every other row loads. Staging could not tell such rows apart: a NULL
key would merge them into one. Generated tables, one or two key columns, NULLs anywhere in them, a key spelled
otherwise in the database (`ID`) than in raw (`id`), through SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import random
import sqlite3

import pytest

from core.errors import PlatformError
from core.run_context import open_run
from ingest.pipeline import ingest_source
from tests.support.postgres import PASSWORD, connect
from tests.support.sources import quarantine, raw, settings_with_sources


def _table(seed: int) -> tuple[list[str], list[tuple]]:
    """Key columns (the first spelled `ID` in the database) and rows `(key parts..., value)`, unique keys, some NULL."""
    rng = random.Random(seed)
    keys = ["ID"] if seed % 2 else ["ID", "line_no"]
    rows, seen = [], set()
    while len(rows) < 60:
        key = tuple(None if rng.random() < 0.1 else rng.randint(1, 40) for _ in keys)
        if key in seen and None not in key:
            continue
        seen.add(key)
        rows.append((*key, f"v{len(rows)}"))
    return keys, rows


def _expected(keys: list[str], rows: list[tuple]) -> tuple[set, list]:
    loaded = {row for row in rows if None not in row[: len(keys)]}
    missing = sorted(("id" if row[0] is None else "line_no", row[-1]) for row in rows if None in row[: len(keys)])
    return loaded, missing


def _declared(keys: list[str]) -> dict:
    raw_keys = ["id" if key == "ID" else key for key in keys]
    return {"primary_key": raw_keys if len(raw_keys) > 1 else raw_keys[0], "cursor": None}


def _check(settings, source: str, keys: list[str], rows: list[tuple]) -> None:
    ingest_source(open_run(settings), source)
    loaded, missing = _expected(keys, rows)
    columns = ", ".join(["id", *keys[1:], "v"])
    assert set(raw(settings, source, "things", f"SELECT {columns} FROM t")) == loaded
    assert sorted(quarantine(settings, source, "things", "SELECT _column, v FROM q WHERE _check = 'key_missing'")) == missing


@pytest.mark.parametrize("seed", range(4))
def test_sqlite_rows_without_their_key_go_to_quarantine(tmp_path, seed):
    keys, rows = _table(seed)
    (tmp_path / "data").mkdir()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute(f"CREATE TABLE things ({', '.join(f'{k} INTEGER' for k in keys)}, v TEXT)")
        con.executemany(f"INSERT INTO things VALUES ({', '.join('?' * (len(keys) + 1))})", rows)
    source = {"kind": "sqlite", "path": "erp.db", "quality": {"max_bad_share": 1}, "tables": {"things": _declared(keys)}}
    _check(settings_with_sources(tmp_path, {"erp": source}), "erp", keys, rows)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_postgres_rows_without_their_key_go_to_quarantine(tmp_path, postgres, seed):
    keys, rows = _table(seed)
    schema = f"null_keys_{seed}"
    with contextlib.closing(connect(postgres)) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE {schema}.things ({', '.join(f'{chr(34)}{k}{chr(34)} BIGINT' for k in keys)}, v TEXT)")
        with con.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {schema}.things VALUES ({', '.join(['%s'] * (len(keys) + 1))})", rows)
    source = {
        "kind": "postgres",
        "host": postgres["host"],
        "port": postgres["port"],
        "database": postgres["database"],
        "user": postgres["user"],
        "password_env": "NK_PG_PASSWORD",
        "db_schema": schema,
        "quality": {"max_bad_share": 1},
        "tables": {"things": _declared(keys)},
    }
    _check(settings_with_sources(tmp_path, {"pg": source}, NK_PG_PASSWORD=PASSWORD), "pg", keys, rows)


def test_a_share_of_rows_without_their_key_above_the_limit_refuses_the_load(tmp_path):
    (tmp_path / "data").mkdir()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "erp.db")) as con, con:
        con.execute("CREATE TABLE things (id INTEGER, v TEXT)")
        con.executemany("INSERT INTO things VALUES (?, ?)", [(1, "a"), (None, "b")])
    source = {"kind": "sqlite", "path": "erp.db", "tables": {"things": {"cursor": None}}}
    settings = settings_with_sources(tmp_path, {"erp": source})
    with pytest.raises(PlatformError, match=r"1 of 2 rows \(50.0%\) are invalid.*First failures: id: key_missing"):
        ingest_source(open_run(settings), "erp")
