"""The rows of a SQLite table that an incremental cursor may select, found through SQLite's index.

DuckDB's sqlite scanner pushes no filter down: `WHERE updated_at >= last` still reads
and converts every row of the table, which was half of a day's ingest on a large source
(3.4 of 6.7 s at 1M orders). When an index of the table leads with a date or timestamp
cursor, SQLite copies the candidate rows into a scratch database that has the table's
own definition, so the scanner reads them with the same types and values as it reads the
table, and the exact `>=` still runs in DuckDB.

The candidates, each found by a range of the index (SQLite orders NULL < numbers < text):
- texts from the day before the last value on: a date written year-month-day, with
  or without zero padding, that is not older than the last value sorts there as text;
- NULLs and numbers (DuckDB reads a number as epoch seconds);
- older texts whose fifth character is not `-` (`2025/01/20`, `2025 01 20`, a leading
  space), which DuckDB may read as a later time than their text order says; the index
  is searched for them a year at a time, so a source without any costs a few seeks.
Without such an index SQLite would scan the table as the scanner does, so the scanner
reads the table itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

CANDIDATES = ("{c} >= :since", "{c} IS NULL", "{c} < ''")
LAST_CHARACTER = "\U0010ffff"
ODD_TEXTS = "{c} >= :odd AND {c} < :since AND substr({c}, 5, 1) != '-'"


@contextlib.contextmanager
def candidate_rows(source: Path, table: str, cursor: str | None, last_value) -> Iterator[Path]:
    """A SQLite file holding `table` with only the rows that `cursor >= last_value` may select.

    Yields `source` itself, to be read whole, where no copy helps: a cursor that is not a
    date or timestamp (or none), no index leading with it, or a table SQLite cannot copy as declared.
    """
    if cursor is None or not isinstance(last_value, dt.date):
        yield source
        return
    day = last_value.date() if isinstance(last_value, dt.datetime) else last_value
    since = (day - dt.timedelta(days=1)).isoformat()
    with tempfile.TemporaryDirectory(prefix="sqlite-candidates-") as scratch:
        copy = Path(scratch) / f"{table}.sqlite"
        yield copy if _copy(source, copy, table, cursor, since) else source


def _copy(source: Path, copy: Path, table: str, cursor: str, since: str) -> bool:
    con = sqlite3.connect(copy.as_uri(), uri=True)
    try:
        con.execute("ATTACH DATABASE ? AS src", (source.resolve().as_uri() + "?mode=ro",))
        found = con.execute("SELECT name, sql FROM src.sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (table,)).fetchone()
        if found is None or not _indexed(con, found[0], cursor):
            return False  # no index to search by; a missing table the scanner reports in its own words
        name, column = quoted(found[0]), quoted(cursor)
        con.execute(found[1])
        odd = _first_odd_text(con, name, column, since)
        for where in CANDIDATES + ((ODD_TEXTS,) if odd is not None else ()):
            con.execute(f"INSERT INTO main.{name} SELECT * FROM src.{name} WHERE {where.format(c=column)}", {"since": since, "odd": odd})
        con.commit()
        return True
    except sqlite3.Error:
        return False
    finally:
        con.close()


def quoted(name: str) -> str:
    """Any SQLite name (`Order Details`) as a quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def _indexed(con: sqlite3.Connection, table: str, cursor: str) -> bool:
    """Whether an index of `table` has `cursor` as its first column."""
    for _, index, *_ in con.execute(f"PRAGMA src.index_list({quoted(table)})").fetchall():
        first = con.execute(f"PRAGMA src.index_info({quoted(index)})").fetchone()
        if first is not None and first[2] is not None and first[2].lower() == cursor.lower():
            return True
    return False


def _first_odd_text(con: sqlite3.Connection, name: str, column: str, since: str) -> str | None:
    """The lowest text before `since` whose fifth character is not `-`, if any.

    The index is read a few entries at a time: each year's block of `YYYY-` texts is
    skipped in one seek, so finding that there is none costs one seek per year.
    """
    seek = f"SELECT {column} FROM src.{name} WHERE {column} >= :lower AND {column} < :since ORDER BY {column} LIMIT 1"
    lower = ""
    while (found := con.execute(seek, {"lower": lower, "since": since}).fetchone()) is not None:
        text = found[0]
        if len(text) < 5 or text[4] != "-":
            return text
        # past this year's block; not `text[:4] + "."`, which SQLite would compare as the number 2025.
        lower = text[:5] + LAST_CHARACTER
    return None
