"""A generated battery of SQLite sources of 2-5 tables, keyed by one column or two, some of which fail their own
load in one of the ways that are a table's own: most rows without a key (above `max_bad_share`), a declared table the file lacks, or rows of
one key and cursor that differ in most of the table. Others hold values of another type than their column, which
load into variants. The source's other tables load, and only they; a failed table's cursor stays where it was,
so once it is fixed, its rows come through, and the tables that loaded read only their new rows.
`TABLE_ISOLATION_SEEDS=40` (environment) runs more sources.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import sqlite3
from pathlib import Path

import pytest

from core.errors import PlatformError
from core.lake import Lake
from core.run_context import open_run
from ingest.pipeline import PartialIngest, ingest_source
from tests.support.sources import raw, settings_with_sources

SEEDS = range(int(os.environ.get("TABLE_ISOLATION_SEEDS", "7")))  # seed 6: every table fails
FAULTS = ("none", "none", "keyless", "missing", "ties", "mixed")


def _rows(rng: random.Random, count: int) -> list[tuple]:
    return [(i, f"v{rng.randint(0, 999)}", rng.randint(0, 99), 1) for i in range(1, count + 1)]


def _create(con: sqlite3.Connection, table: str, rows: list[tuple]) -> None:
    con.execute(f"CREATE TABLE {table} (id INTEGER, v TEXT, n INTEGER, updated INTEGER)")
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)


def _source(rng: random.Random, path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Tables -> fault, and the rows each table that loads should load (valid rows)."""
    faults = {f"t{i}": rng.choice(FAULTS) for i in range(rng.randint(2, 5))}
    expected: dict[str, int] = {}
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        for table, fault in faults.items():
            rows = _rows(rng, rng.randint(5, 40))
            if fault == "missing":
                continue
            if fault == "keyless":  # more than half without a key
                rows = [(None, *rest) for _, *rest in rows] + rows[: len(rows) // 3]
            elif fault == "ties":  # every key twice at one cursor value, differing
                rows = rows + [(i, v + "-other", n, u) for i, v, n, u in rows]
            elif fault == "mixed":  # a text in an INTEGER column: it loads into the column's variant
                rows = rows[:-1] + [(*rows[-1][:2], "not a number", 1)]
            _create(con, table, rows)
            if fault in ("none", "mixed"):
                expected[table] = len(rows)
    return faults, expected


def _fix(rng: random.Random, path: Path, faults: dict[str, str]) -> dict[str, int]:
    """Fix every failed table and add one new row to each that loaded; the rows the next load should bring."""
    expected: dict[str, int] = {}
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        for table, fault in faults.items():
            if fault == "missing":
                rows = _rows(rng, 7)
                _create(con, table, rows)
                expected[table] = 7
            elif fault == "keyless":
                con.execute(f"DELETE FROM {table} WHERE id IS NULL")
                expected[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            elif fault == "ties":
                con.execute(f"DELETE FROM {table} WHERE v LIKE '%-other'")
                expected[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            else:
                con.execute(f"INSERT INTO {table} VALUES (1000, 'new', 5, 2)")
                expected[table] = 1
    return expected


@pytest.mark.parametrize("seed", SEEDS)
def test_a_table_that_fails_its_own_load_leaves_the_others_loaded(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "erp.db"
    faults, expected = _source(rng, path)
    failing = {table for table, fault in faults.items() if fault in ("keyless", "missing", "ties")}
    # some tables keyed by two columns (the id and the cursor), the others by the id
    keys = {table: rng.choice([["id"], ["id", "updated"]]) for table in faults}
    tables = {table: {"cursor": "updated", "primary_key": keys[table]} for table in faults}
    settings = settings_with_sources(tmp_path, {"erp": {"kind": "sqlite", "path": str(path), "tables": tables}})

    if failing == set(faults):  # every table fails: nothing of the source loads, and each is named
        with pytest.raises(PlatformError) as every:
            ingest_source(open_run(settings), "erp")
        assert not isinstance(every.value, PartialIngest)
        assert all(f"erp.{table}" in str(every.value) or f"'{table}'" in str(every.value) for table in failing)
        lake = Lake(settings)
        assert not any(lake.fs.glob(lake.parquet_glob("raw", "erp", table)) for table in faults)
    elif failing:
        with pytest.raises(PartialIngest) as caught:
            ingest_source(open_run(settings), "erp")
        assert set(caught.value.result.failed_tables) == failing
        assert caught.value.result.rows == expected
        assert not re.search(r"\bv\d+\b", str(caught.value))  # no value named
    else:
        assert ingest_source(open_run(settings), "erp").rows == expected
    for table, count in expected.items():
        assert raw(settings, "erp", table) == [(count,)]

    again = _fix(rng, path, faults)
    result = ingest_source(open_run(settings), "erp")
    assert not result.failed_tables and result.rows == again
    for table in faults:
        assert raw(settings, "erp", table) == [(expected.get(table, 0) + again[table],)]
