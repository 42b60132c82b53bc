"""A mart read as the API takes it: filters, columns, order and page from the query string, to bound SQL.

Filters are `column=value` and `column__<op>=value` (op: eq, ne, gt, gte, lt, lte, in with
comma-separated values). Values are bound parameters, cast to the column's type; column names
are checked against the mart's own columns before they reach SQL.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass

import duckdb

from api.published import Column

# Query parameters that are not filters.
RESERVED = ("version", "columns", "order", "limit", "offset", "format")
OPERATORS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "IN"}
# Types a filter value can be cast to: DuckDB's scalar type names, with an optional (precision, scale).
SCALAR_TYPE = re.compile(r"^[A-Z][A-Z ]*(\(\d+(,\s*\d+)?\))?$")


class BadRequest(Exception):
    """A query the API cannot run; the message says which parameter and why."""


@dataclass(frozen=True)
class Filter:
    column: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class MartQuery:
    """What to read from one mart: the page is `limit` rows from `offset`, in a total order."""

    columns: tuple[str, ...]
    filters: tuple[Filter, ...]
    order: tuple[tuple[str, bool], ...]  # (column, descending)
    limit: int
    offset: int

    def etag(self, version: str, mart: str, output: str) -> str:
        """The same query on the same (immutable) version gives the same bytes: its ETag needs no read."""
        key = json.dumps([version, mart, output, asdict(self)], sort_keys=True, default=str)
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def parse_query(params: list[tuple[str, str]], columns: list[Column], *, limit: int, offset: int) -> MartQuery:
    """The query that the request's parameters describe; BadRequest names the parameter at fault."""
    names = [column.name for column in columns]
    types = {column.name: column.type for column in columns}
    selected: tuple[str, ...] = tuple(names)
    order: tuple[tuple[str, bool], ...] = ()
    filters = []
    for key, value in params:
        if key == "columns":
            selected = tuple(_known(name, names, key) for name in _split(value))
            if not selected:
                raise BadRequest("columns: name at least one column, comma-separated.")
        elif key == "order":
            order = tuple((_known(term.lstrip("-"), names, key), term.startswith("-")) for term in _split(value))
        elif key not in RESERVED:
            column, _, operator = key.partition("__")
            operator = operator or "eq"
            if operator not in OPERATORS:
                raise BadRequest(f"{key}: unknown operator '{operator}'; use one of {', '.join(OPERATORS)}.")
            _known(column, names, key)
            if not SCALAR_TYPE.match(types[column]):
                raise BadRequest(f"{key}: column '{column}' has type {types[column]}, which cannot be filtered.")
            filters.append(Filter(column, operator, tuple(_split(value)) if operator == "in" else (value,)))
    return MartQuery(selected, tuple(sorted(filters, key=lambda f: (f.column, f.operator, f.values))), order, limit, offset)


def check_values(con: duckdb.DuckDBPyConnection, query: MartQuery, columns: list[Column]) -> None:
    """Every filter value casts to its column's type; else BadRequest naming the filter."""
    types = {column.name: column.type for column in columns}
    for item in query.filters:
        for value in item.values:
            try:
                con.execute(f"SELECT CAST(? AS {types[item.column]})", [value]).fetchall()
            except duckdb.Error:
                raise BadRequest(f"{item.column}__{item.operator}: {value!r} is not a valid {types[item.column]}.") from None


def page_sql(mart: str, query: MartQuery, columns: list[Column], *, as_json: bool) -> tuple[str, list]:
    """The page as SQL with its parameters; one row more than the limit, to tell whether a next page exists.

    The order is total (the requested columns, then every column of the mart), so that offset pages
    of one immutable version neither repeat nor skip rows."""
    types = {column.name: column.type for column in columns}
    params: list = []
    conditions = []
    for item in query.filters:
        cast = f"CAST(? AS {types[item.column]})"
        if item.operator == "in":
            conditions.append(f"{_quote(item.column)} IN ({', '.join([cast] * len(item.values))})")
        else:
            conditions.append(f"{_quote(item.column)} {OPERATORS[item.operator]} {cast}")
        params.extend(item.values)
    ordered = {name for name, _ in query.order}
    order = [*query.order, *((column.name, False) for column in columns if column.name not in ordered)]
    if as_json:
        select = "to_json(struct_pack(" + ", ".join(f"{_quote(name)} := {_quote(name)}" for name in query.columns) + "))::VARCHAR"
    else:
        select = ", ".join(_quote(name) for name in query.columns)
    sql = (
        f"SELECT {select} FROM marts.{mart}"
        + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
        + " ORDER BY "
        + ", ".join(f"{_quote(name)}{' DESC' if descending else ''}" for name, descending in order)
        + " LIMIT ? OFFSET ?"
    )
    return sql, [*params, query.limit + 1, query.offset]


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _known(name: str, names: list[str], parameter: str) -> str:
    if name not in names:
        raise BadRequest(f"{parameter}: the mart has no column '{name}'; its columns are {', '.join(names)}.")
    return name


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
