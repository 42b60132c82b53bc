"""The data browser's questions to any published mart: its columns, a filtered and sorted sample, rows over time.

Every function takes a connection from `publish.reader.connect_published`, the one read path of
published data, and names a mart as the view `marts.<table>` it creates; nothing here opens a file.
Table and column names come from the URL, so each is checked against the published schema before
it is quoted into SQL; values are always bound parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd

from core.errors import PlatformError

SAMPLE_ROWS = 1_000
DOWNLOAD_ROWS = 100_000
# Filters per kind of column, the first the default: a range or a value for numbers and times, "contains" or a value
# for text, a value for flags.
OPERATORS = {
    "number": ("range", "eq"),
    "time": ("range", "eq"),
    "text": ("contains", "eq"),
    "boolean": ("eq",),
    "other": ("contains", "eq"),
}
PARSERS: dict[str, Callable[[str], object]] = {"number": float, "time": dt.date.fromisoformat}
CASTS = {"number": "::DOUBLE", "time": "::DATE"}  # how a bound or value compares; anything else as text
# The coarsest grain that still gives a readable number of periods, by the days the column spans.
GRAIN_BY_SPAN = ((92, "day"), (2 * 366, "week"), (15 * 366, "month"))


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as DuckDB names it: BIGINT, DECIMAL(18,2), DATE, TIMESTAMP WITH TIME ZONE, ...

    @property
    def kind(self) -> str:
        """number, time, text, boolean or other: which filters and charts fit the column."""
        base = self.type.upper()
        if base == "DATE" or base.startswith("TIMESTAMP"):
            return "time"
        if base == "BOOLEAN":
            return "boolean"
        if base in ("VARCHAR", "UUID") or base.startswith("ENUM"):
            return "text"
        numeric = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "UBIGINT", "UINTEGER")
        return "number" if base.startswith(numeric) else "other"


@dataclass(frozen=True)
class Filter:
    """One column's condition: `range` (low and/or high, inclusive), `eq` (value) or `contains` (text, any case)."""

    column: str
    operator: str
    value: str | None = None
    low: str | None = None
    high: str | None = None

    def to_param(self) -> str:
        """The filter as it is kept in the URL: `range:low~high`, `eq:value`, `contains:text`."""
        if self.operator == "range":
            return f"range:{self.low or ''}~{self.high or ''}"
        return f"{self.operator}:{self.value or ''}"

    @classmethod
    def from_param(cls, column: str, text: str) -> Filter | None:
        """A filter from its URL form, or None for text that is not one."""
        operator, sep, rest = text.partition(":")
        if not sep:
            return None
        if operator == "range":
            low, _, high = rest.partition("~")
            return cls(column, "range", low=low or None, high=high or None)
        if operator in ("eq", "contains"):
            return cls(column, operator, value=rest)
        return None

    def fits(self, kind: str) -> bool:
        """Whether the filter's operator and values suit a column of `kind` (a hand-edited URL may not)."""
        if self.operator not in OPERATORS[kind]:
            return False
        parse = PARSERS.get(kind)
        try:
            for value in (self.value, self.low, self.high):
                if parse is not None and value:
                    parse(value)
        except ValueError:
            return False
        return True

    @property
    def active(self) -> bool:
        return bool(self.low or self.high) if self.operator == "range" else self.value not in (None, "")


@dataclass(frozen=True)
class Browse:
    """What the browser shows of one mart: its rows matching every filter, sorted by one column."""

    table: str
    filters: tuple[Filter, ...] = ()
    sort: str | None = None
    descending: bool = False


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table of the published version, by name."""
    found = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY table_name").fetchall()
    return [name for (name,) in found]


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[Column]:
    """The mart's columns in order, with their types as published."""
    found = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = ? "
        "ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    if not found:
        raise PlatformError(f"No published mart `{table}`: it has {', '.join(tables(con)) or 'no tables'}.")
    return [Column(name, kind) for name, kind in found]


def count(con: duckdb.DuckDBPyConnection, browse: Browse) -> int:
    where, params = _where(con, browse)
    (matching,) = con.execute(f"SELECT count(*) FROM marts.{_table(con, browse.table)}{where}", params).fetchall()[0]
    return matching


def rows(con: duckdb.DuckDBPyConnection, browse: Browse, limit: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first `limit` matching rows in the chosen order; ties, and no order chosen, go by every column in turn."""
    schema = columns(con, browse.table)
    where, params = _where(con, browse)
    order = ", ".join(str(position) for position in range(1, len(schema) + 1))
    if browse.sort:
        order = f"{_quote(browse.sort, {c.name for c in schema})} {'DESC' if browse.descending else 'ASC'} NULLS LAST, {order}"
    sql = f"SELECT * FROM marts.{_table(con, browse.table)}{where} ORDER BY {order} LIMIT ?"
    return con.execute(sql, [*params, limit]).df()


@dataclass(frozen=True)
class TimeSpan:
    """The first and last day of a time column among the matching rows, and whether it holds only months' first days."""

    first: dt.date
    last: dt.date
    monthly: bool = False

    @property
    def grain(self) -> str:
        """Day up to three months, week up to two years, month up to fifteen, then year; at least month for a monthly column."""
        days = (self.last - self.first).days + 1
        grain = next((grain for limit, grain in GRAIN_BY_SPAN if days <= limit), "year")
        return "month" if self.monthly and grain in ("day", "week") else grain


def time_span(con: duckdb.DuckDBPyConnection, browse: Browse, column: str) -> TimeSpan | None:
    """The span of `column` among the matching rows; None when they have no value in it."""
    known = {c.name for c in columns(con, browse.table)}
    where, params = _where(con, browse)
    quoted = _quote(column, known)
    first, last, monthly = con.execute(
        f"SELECT min({quoted})::DATE, max({quoted})::DATE, bool_and({quoted} = date_trunc('month', {quoted})) "
        f"FROM marts.{_table(con, browse.table)}{where}",
        params,
    ).fetchall()[0]
    return None if first is None else TimeSpan(first, last, bool(monthly))


def over_time(con: duckdb.DuckDBPyConnection, browse: Browse, column: str, grain: str) -> pd.DataFrame:
    """Matching rows per `grain` of `column` (`period_start`, `count_rows`); rows without a time are left out."""
    known = {c.name for c in columns(con, browse.table)}
    if grain not in {g for _, g in GRAIN_BY_SPAN} | {"year"}:
        raise PlatformError(f"Unknown grain {grain!r}.")
    where, params = _where(con, browse)
    quoted = _quote(column, known)
    null_check = f"{' AND' if where else ' WHERE'} {quoted} IS NOT NULL"
    return con.execute(
        f"SELECT date_trunc('{grain}', {quoted})::DATE AS period_start, count(*) AS count_rows "
        f"FROM marts.{_table(con, browse.table)}{where}{null_check} GROUP BY ALL ORDER BY 1",
        params,
    ).df()


def _table(con: duckdb.DuckDBPyConnection, table: str) -> str:
    if table not in tables(con):
        raise PlatformError(f"No published mart `{table}`.")
    return f'"{table}"'


def _quote(column: str, known: set[str]) -> str:
    if column not in known:
        raise PlatformError(f"No column `{column}` in this mart.")
    return '"' + column.replace('"', '""') + '"'


def _where(con: duckdb.DuckDBPyConnection, browse: Browse) -> tuple[str, list]:
    """The WHERE clause of the active filters, with its parameters."""
    by_name = {c.name: c for c in columns(con, browse.table)}
    clauses: list[str] = []
    params: list = []
    for item in browse.filters:
        if not item.active:
            continue
        quoted = _quote(item.column, set(by_name))
        kind = by_name[item.column].kind
        cast = CASTS.get(kind, "::VARCHAR")
        if item.operator == "range" and kind in ("number", "time"):
            for bound, comparison in ((item.low, ">="), (item.high, "<=")):
                if bound:
                    clauses.append(f"{quoted}{cast} {comparison} ?{cast}")
                    params.append(bound)
        elif item.operator == "contains":
            clauses.append(f"contains(lower({quoted}::VARCHAR), lower(?))")
            params.append(item.value)
        elif item.operator == "eq":
            clauses.append(f"{quoted}{cast} = ?{cast}")
            params.append(item.value)
        else:
            raise PlatformError(f"Unknown filter {item.operator!r} on `{item.column}`.")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
