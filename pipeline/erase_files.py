"""The rewrites an erasure makes, one kind of storage each: Parquet files in the lake or the data
folder, the warehouse's tables and file, the metadata store, and any other file that holds a value.

Every rewrite is whole-file and atomic: the new file is written aside and swapped in (a single PUT
on S3), so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pyarrow.parquet as pq

from core import warehouse
from core.erasures import TOMBSTONE, Key, erase_rows, erase_values, key_columns, key_parts
from core.lake import Lake
from core.warehouse import sql_identifier, sql_literal
from transform.subject_columns import SubjectColumns

# A model's physical tables: `sqlmesh__<schema>.<schema>__<model>__<fingerprint>[__dev]`.
PHYSICAL = re.compile(r"^(?P<schema>\w+?)__(?P<model>\w+)__\d+(__dev)?$")
# Files whose values are replaced in place; other files holding a value are caches (removed) or reported.
# Logs that services keep open and append to (`scheduler.log`, its `.1` generation, a service's `.out`).
LOG = re.compile(r"\.(log|out)(\.\d+)?$")
TEXT_SUFFIXES = (".log", ".json", ".jsonl", ".txt", ".csv", ".tsv", ".sql", ".yaml", ".yml", ".md")


def written_forms(values: Iterable[str]) -> set[str]:
    """Each value as text holds it: as is, URL-encoded (`%40`, `%20` or `+`, as a query string carries it),
    JSON-escaped and CSV-quoted (inner quotes doubled)."""
    forms: set[str] = set()
    for value in values:
        forms |= {
            value,
            quote(value, safe=""),
            quote(value),
            quote_plus(value),
            quote_plus(value, safe="@"),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            value.replace('"', '""'),
        }
    return forms


def rewrite_parquet(
    url: str, key: Key | None, keys: list[str], columns: list[str], lake: Lake | None = None, values: Iterable[str] = ()
) -> int:
    """Erase the rows of `keys` in one Parquet file, of the lake or (without `lake`) a local path; return the
    rows erased. Without a `key` column, the rows where a personal column holds one of `values`."""
    rows = pq.read_table(io.BytesIO(_read(url, lake)))
    erased, count = erase_rows(rows, key, keys, columns) if key is not None else erase_values(rows, columns, values)
    if count:
        buffer = io.BytesIO()
        pq.write_table(erased, buffer)
        _write(url, buffer.getvalue(), lake)
    return count


def _read(url: str, lake: Lake | None) -> bytes:
    if lake is None:
        return Path(url).read_bytes()
    with lake.fs.open(url, "rb") as handle:
        return handle.read()


def _write(url: str, data: bytes, lake: Lake | None) -> None:
    """Replace a file in one step: write aside and rename locally, a single PUT on S3."""
    if lake is not None:
        lake.write_bytes_atomic(url, data)
        return
    path = Path(url)
    aside = path.with_name(f".{path.name}.erasing")
    aside.write_bytes(data)
    os.replace(aside, path)


def key_matches(key: Key, keys: list[str]) -> tuple[str, list]:
    """A SQL condition true for the rows whose `key` (compared as text, column by column for a composite
    key) is one of `keys`, and its parameters."""
    names = key_columns(key)
    texts = [f"CAST({sql_identifier(name)} AS VARCHAR)" for name in names]
    if len(names) == 1:
        return f"{texts[0]} IN (SELECT unnest(?::VARCHAR[]))", [keys]
    if not keys:
        return "false", []
    each = [key_parts(names, k) for k in keys]
    one = "(" + " AND ".join(f"{text} = ?" for text in texts) + ")"
    return "(" + " OR ".join([one] * len(each)) + ")", [part for parts in each for part in parts]


def files_with_key(lake: Lake, glob: str, key: Key, keys: list[str]) -> list[str]:
    """The Parquet files matching `glob` that hold a row of one of `keys`."""
    if not lake.fs.glob(glob):
        return []
    with contextlib.closing(lake.attach(warehouse.connect())) as con:
        present = {name for name, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?, union_by_name := true)", [glob]).fetchall()}
        if not set(key_columns(key)) <= present:
            return []
        mine, params = key_matches(key, keys)
        sql = f"SELECT DISTINCT filename FROM read_parquet(?, filename := true, union_by_name := true) WHERE {mine} ORDER BY 1"
        return [name for (name,) in con.execute(sql, [glob, *params]).fetchall()]


def identifying_values(lake: Lake, globs: list[str], key: Key, keys: list[str], columns: list[str]) -> set[str]:
    """The personal values the subjects hold in the files of `globs` (every version of every row) that
    identify them: held by no other key in the same column."""
    held: set[str] = set()
    shared: set[str] = set()
    with contextlib.closing(lake.attach(warehouse.connect())) as con:
        for glob in (g for g in globs if lake.fs.glob(g)):
            present = {name for name, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?, union_by_name := true)", [glob]).fetchall()}
            if not set(key_columns(key)) <= present:
                continue
            mine, params = key_matches(key, keys)
            for column in (c for c in columns if c in present):
                rows = f"read_parquet({sql_literal(glob)}, union_by_name := true)"
                value = f"CAST({sql_identifier(column)} AS VARCHAR)"
                values = con.execute(f"SELECT DISTINCT {value} FROM {rows} WHERE {mine} AND {value} IS NOT NULL", params).fetchall()
                found = {value for (value,) in values if value and value != TOMBSTONE}
                held |= found
                others = con.execute(
                    f"SELECT DISTINCT {value} FROM {rows} WHERE NOT ({mine}) AND {value} IN (SELECT unnest(?::VARCHAR[]))",
                    [*params, sorted(found)],
                ).fetchall()
                shared |= {value for (value,) in others}
    return held - shared


def erase_warehouse_tables(path: Path, models: dict[str, SubjectColumns], keys: list[str], values: set[str]) -> dict[str, int]:
    """Erase the subjects' personal columns in every physical table of every model version (prod, dev
    and older versions alike); return rows erased per table. A table without a key column the subject
    can be found by has its personal columns erased where they hold one of the identifying `values`."""
    erased: dict[str, int] = {}
    with contextlib.closing(warehouse.connect(path)) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            model = _model_of(schema, table)
            if model not in models:
                continue
            columns = dict(
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
                    [schema, table],
                ).fetchall()
            )
            carried = models[model]
            personal = [column for column in carried.personal if column in columns]
            if not personal:
                continue
            name = f"{sql_identifier(schema)}.{sql_identifier(table)}"
            assignments = ", ".join(f"{sql_identifier(c)} = {'?' if columns[c] == 'VARCHAR' else 'NULL'}" for c in personal)
            tombstones = [TOMBSTONE for c in personal if columns[c] == "VARCHAR"]
            if carried.key is not None and all(column in columns for column in carried.key):
                where, matched = key_matches(carried.key, keys)
                params: list = [*tombstones, *matched]
            else:
                where = " OR ".join(f"CAST({sql_identifier(c)} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))" for c in personal)
                params = [*tombstones, *([sorted(values)] * len(personal))]
            [(count,)] = con.execute(f"UPDATE {name} SET {assignments} WHERE {where}", params).fetchall()
            if count:
                erased[f"{schema}.{table}"] = count
    return erased


def _model_of(schema: str, table: str) -> str:
    """The model a physical table belongs to (`schema.model`), or the table's own name when it is not SQLMesh's."""
    match = PHYSICAL.match(table)
    if schema.startswith("sqlmesh__") and match is not None:
        return f"{match['schema']}.{match['model']}"
    return f"{schema}.{table}"


def compact_duckdb(path: Path) -> None:
    """Rewrite a DuckDB file into a fresh one and swap it in, so that no erased value survives in its
    free blocks or write-ahead log. The caller holds the writer lock: nobody else has the file open."""
    fresh = path.with_name(f".{path.name}.erasing")
    fresh.unlink(missing_ok=True)
    try:
        with contextlib.closing(warehouse.connect(path)) as con:
            [(catalog,)] = con.execute("SELECT current_database()").fetchall()
            con.execute(f"ATTACH {sql_literal(fresh)} AS erased_copy")
            con.execute(f"COPY FROM DATABASE {sql_identifier(catalog)} TO erased_copy")
            con.execute("DETACH erased_copy")
        os.replace(fresh, path)
    finally:
        fresh.unlink(missing_ok=True)
        Path(f"{fresh}.wal").unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)


def erase_sqlite_values(path: Path, values: set[str], skip: Iterable[str] = ()) -> int:
    """Replace every occurrence of `values` in the text of every table of a SQLite file (except
    `skip`), then rebuild the file so no old page keeps them; return the cells changed."""
    if not path.exists() or not values:
        return 0
    changed = 0
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as con:
        tables = [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if name not in skip]
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            columns = [row[1] for row in con.execute(f"PRAGMA table_info({sql_identifier(table)})")]
            for column, value in ((c, v) for c in columns for v in sorted(values)):
                cursor = con.execute(
                    f"UPDATE {sql_identifier(table)} SET {sql_identifier(column)} = replace({sql_identifier(column)}, ?, ?) "
                    f"WHERE typeof({sql_identifier(column)}) = 'text' AND instr({sql_identifier(column)}, ?) > 0",
                    (value, TOMBSTONE, value),
                )
                changed += cursor.rowcount
        con.commit()
        con.execute("VACUUM")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return changed


def erase_in_file(url: str, values: set[str], lake: Lake | None = None) -> str | None:
    """Erase `values` in one file that is not Parquet or a database, of the lake or (without `lake`) a
    local path: masked in place in logs, replaced in other text files ('rewritten'), cache files
    removed ('removed'), anything else reported ('left'); None when it holds none."""
    data = _read(url, lake)
    needles = [value.encode() for value in values if value]
    if not any(needle in data for needle in needles):
        return None
    name = url.rsplit("/", 1)[-1]
    if lake is None and LOG.search(name):
        _mask_in_place(Path(url), data, needles)
        return "rewritten"
    if name.endswith(TEXT_SUFFIXES):
        for needle in needles:
            data = data.replace(needle, TOMBSTONE.encode())
        _write(url, data, lake)
        return "rewritten"
    if "/sqlmesh-cache/" in url or name.endswith(".pickle"):
        if lake is None:
            Path(url).unlink()
        else:
            lake.fs.rm(url)
        return "removed"
    return "left"


def _mask_in_place(path: Path, data: bytes, needles: list[bytes]) -> None:
    """Overwrite each occurrence with as many `*`: a running service keeps appending to the same file
    (a swapped-in copy would take its later lines into a deleted file), and no line moves."""
    with open(path, "r+b") as handle:
        for needle in needles:
            start = data.find(needle)
            while start >= 0:
                handle.seek(start)
                handle.write(b"*" * len(needle))
                start = data.find(needle, start + len(needle))
        handle.flush()
        os.fsync(handle.fileno())
