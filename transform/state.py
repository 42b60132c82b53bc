"""The warehouse's record of what it reflects: `sqlmesh_platform.transform_state`, one row.

It names the completed raw loads that the last applied comparison with staging saw, and
the restatement being applied (empty once it is). It lives in the warehouse itself, so a
warehouse rebuilt from scratch starts with no record and compares everything once. The
build reads and writes it through SQLMesh's engine adapter (DuckDB or Spark); publishing
reads it beside the marts it copies, so a published version names exactly the loads its
marts reflect.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
from sqlglot import exp, parse_one

from core.warehouse import sql_literal
from transform.restatement import RawLoads, Restatement

SCHEMA = "sqlmesh_platform"
TABLE = f"{SCHEMA}.transform_state"
COLUMNS = ("applied_loads", "pending_models", "pending_start")


def read(adapter) -> tuple[RawLoads | None, Restatement]:
    """The loads the last applied comparison saw (None: none yet, compare everything), and a
    restatement begun but not finished."""
    if not adapter.table_exists(TABLE) or _outdated(adapter):
        return None, Restatement()
    row = adapter.fetchone(parse_one(f"SELECT {', '.join(COLUMNS)} FROM {TABLE}", read="duckdb"))
    if not row:
        return None, Restatement()
    return _parse(row)


def write(adapter, applied: RawLoads | None, pending: Restatement) -> None:
    """Replace the record (one statement: a reader sees the old row or the new one)."""
    adapter.create_schema(SCHEMA)
    if adapter.table_exists(TABLE) and _outdated(adapter):
        adapter.drop_table(TABLE)  # replacing keeps an existing table's columns
    values = (
        json.dumps(sorted(applied.names)) if applied is not None else "",
        ",".join(pending.models),
        pending.start.isoformat() if pending.start else "",
    )
    adapter.replace_query(
        TABLE,
        parse_one("SELECT " + ", ".join(f"{sql_literal(v)} AS {name}" for name, v in zip(COLUMNS, values, strict=True)), read="duckdb"),
        columns_to_types={name: exp.DataType.build("text") for name in COLUMNS},
    )


def applied_loads(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The loads that the warehouse (or Spark's export) read through `con` reflects, for a publish.

    Empty while a restatement is pending or before the first build: its marts then reflect no
    load for certain."""
    try:
        row = con.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE}").fetchone()
    except duckdb.CatalogException:
        return []
    if not row:
        return []
    applied, pending = _parse(row)
    if applied is None or pending.models:
        return []
    return sorted(applied.names)


def _parse(row: tuple) -> tuple[RawLoads | None, Restatement]:
    applied, models, start = row
    pending = Restatement(models=[m for m in (models or "").split(",") if m])
    pending.start = dt.datetime.fromisoformat(start) if start else None
    return (RawLoads(frozenset(json.loads(applied))) if applied else None), pending


def _outdated(adapter) -> bool:
    """The table lacks a column that this version keeps (written by an older version)."""
    return bool(set(COLUMNS) - {name.lower() for name in adapter.columns(TABLE)})
