"""SQLite tables whose columns hold values of another type than the column declares.

SQLite keeps any value in any column: an `INTEGER` column may hold `''` or `'N/A'` (a CSV imported with
`.import`), a `DATE` column `'unknown'`. DuckDB's scanner refuses such a value, and with it the whole
table. A table whose read failed so is read again from a scratch copy that SQLite writes: each value that
the scanner cannot read as its column's declared type moves, as it is, to the column's variant for its
storage class (`<column>__v_text`, `__v_double` or `__v_binary`, as dlt names the variant a file drop's
value of another type goes to), and its own column is NULL in that row. Every other value is copied as it
is, so the scanner reads it as it would have.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ingest.file_keys import VARIANT
from ingest.sqlite_candidates import quoted

# dlt's names for a value of another type than its column's, by SQLite's storage class of the value
VARIANTS = {"text": (VARIANT + "text", "TEXT"), "real": (VARIANT + "double", "REAL"), "blob": (VARIANT + "binary", "BLOB")}
_DATE_TEXT = "(typeof({c}) = 'text' AND date(julianday({c})) = substr({c}, 1, 10))"  # a real date (not 02-30), year-month-day
# What DuckDB's scanner reads as each type (by SQLite's storage class; a date or timestamp also from numbers,
# as epoch seconds); other values of such a column are the ones it refuses.
_READABLE = {
    "BIGINT": "typeof({c}) IN ('integer', 'null')",
    "DOUBLE": "typeof({c}) IN ('integer', 'real', 'null')",
    "VARCHAR": "typeof({c}) != 'blob'",
    "DATE": "typeof({c}) IN ('integer', 'real', 'null') OR " + _DATE_TEXT,
    "TIMESTAMP": "typeof({c}) IN ('integer', 'real', 'null') OR " + _DATE_TEXT,
}


@contextlib.contextmanager
def split_by_type(source: Path, table: str, types: dict[str, str]) -> Iterator[Path]:
    """A scratch SQLite file holding `table`, each value the scanner cannot read as its column's type (`types`:
    column -> DuckDB type, as the scanner reads the table) moved to the column's variant for its storage class."""
    with tempfile.TemporaryDirectory(prefix="sqlite-split-") as scratch:
        copy = Path(scratch) / f"{table}.sqlite"
        con = sqlite3.connect(copy)
        try:
            con.execute("ATTACH DATABASE ? AS src", (source.resolve().as_uri() + "?mode=ro",))
            found = con.execute("SELECT name FROM src.sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (table,)).fetchone()
            if found is None:
                raise FileNotFoundError(f"no table {table!r} in {source.name}")
            name = quoted(found[0])
            declared = [(row[1], row[2]) for row in con.execute(f"PRAGMA src.table_info({name})")]
            columns, values, variants = [], [], []
            for column, kind in declared:
                ident = quoted(column)
                columns.append(f"{ident} {kind}")  # the declared type, so that the scanner types the copy alike
                readable = _READABLE.get(types.get(column, "").split("(")[0].removesuffix(" WITH TIME ZONE"))
                if readable is None:
                    values.append(ident)
                    continue
                fits = f"coalesce(({readable.format(c=ident)}), 0)"
                values.append(f"CASE WHEN {fits} THEN {ident} END")
                for storage, (suffix, kind) in VARIANTS.items():
                    variants.append(
                        (f"{quoted(column + suffix)} {kind}", f"CASE WHEN NOT {fits} AND typeof({ident}) = '{storage}' THEN {ident} END")
                    )
            columns += [column for column, _ in variants]
            values += [value for _, value in variants]
            con.execute(f"CREATE TABLE main.{name} ({', '.join(columns)})")
            con.execute(f"INSERT INTO main.{name} SELECT {', '.join(values)} FROM src.{name}")
            con.commit()
        finally:
            con.close()
        yield copy
