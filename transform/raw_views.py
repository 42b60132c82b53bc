"""The raw layer inside the warehouse: one view per ingested table, over completed loads only.

dlt records a load in `_dlt_loads` only once all of its files are written, so a
load that was stopped half-way is never visible to the staging models. On the s3
backend the views read `s3://` through httpfs; the connection that queries them
needs the lake's secret (`Lake.attach`, or SQLMesh's connection config).

Every view has a `_deleted` flag. It is true for a row of a table that asks for
hard-delete detection (`detect_hard_deletes`) when its key was found gone from the
source (`<table>__deleted`) in a load later than the row's own; a key that comes back
is loaded again in a later load, so its new row is live. Staging models fold the flag
into `is_deleted` (or leave the row out), so no table needs SQL of its own for it.

A declared table with no Parquet yet (a files source before its first drop) gets an
empty view with the columns that `external_models.yaml` declares for it, so SQLMesh
still plans; a table declared nowhere is skipped with a notice. A declared column that
no load holds (empty in every file of a drop, so never loaded), and the table's
`soft_delete` column, are shown as NULL of their declared type.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import yaml

from core.errors import PlatformError
from core.lake import DELETED_SUFFIX
from core.run_context import RunContext
from core.warehouse import sql_identifier, sql_literal

log = logging.getLogger("duckstack.transform")

EXTERNAL_MODELS = "external_models.yaml"
DELETED_FLAG = "_deleted"


def create_raw_views(con: duckdb.DuckDBPyConnection, run: RunContext) -> list[str]:
    """(Re)create `raw_<source>.<table>` for every declared table; return the view names."""
    settings, lake = run.settings, run.lake
    lake.attach(con)
    declared = declared_columns(settings.project_dir)
    views = []
    for source_name, source in settings.sources.items():
        loads = lake.url("raw", source_name, "_dlt_loads") + "/*.jsonl"
        completed = f"SELECT load_id FROM read_json({sql_literal(loads)}, format := 'newline_delimited') WHERE status = 0"
        has_loads = bool(lake.fs.glob(loads))
        con.execute(f"CREATE SCHEMA IF NOT EXISTS raw_{source_name}")
        for table, spec in source.tables.items():
            view = f"raw_{source_name}.{table}"
            if has_loads and lake.fs.glob(lake.parquet_glob("raw", source_name, table)):
                tombstones = lake.parquet_glob("raw", source_name, table + DELETED_SUFFIX)
                detects = getattr(spec, "detect_hard_deletes", False) and bool(lake.fs.glob(tombstones))
                select = _rows_sql(
                    lake.parquet_glob("raw", source_name, table), completed, spec.key_columns, tombstones if detects else None
                )
                select = _with_missing(con, select, _expected_columns(declared.get(view, {}), spec.soft_delete), view)
            elif view in declared:
                select = _empty_sql(declared[view])
                log.info("no raw data for %s yet: an empty view with its declared columns", view)
            else:
                log.warning(
                    "no raw data for %s yet and no columns declared in %s: no view (models reading it cannot plan)", view, EXTERNAL_MODELS
                )
                continue
            try:
                con.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")
            except duckdb.Error as exc:
                raise PlatformError(f"The raw view {view} cannot be created from {lake.url('raw', source_name, table)}: {exc}") from None
            views.append(view)
    return views


def _rows_sql(files: str, completed: str, key: list[str], tombstones: str | None) -> str:
    rows = f"SELECT * FROM read_parquet({sql_literal(files)}, union_by_name := true) WHERE _dlt_load_id IN ({completed})"
    if tombstones is None:
        return f"SELECT *, false AS {DELETED_FLAG} FROM ({rows})"
    columns = ", ".join(sql_identifier(column) for column in key)
    # dlt's load ids are epoch seconds with the same number of integer digits: text order is time order.
    gone = (
        f"SELECT {columns}, max(_dlt_load_id) AS _gone_in FROM read_parquet({sql_literal(tombstones)}) "
        f"WHERE _dlt_load_id IN ({completed}) GROUP BY ALL"
    )
    joined = " AND ".join(f"loaded.{sql_identifier(column)} = gone.{sql_identifier(column)}" for column in key)
    return (
        f"SELECT loaded.*, coalesce(gone._gone_in > loaded._dlt_load_id, false) AS {DELETED_FLAG} "
        f"FROM ({rows}) AS loaded LEFT JOIN ({gone}) AS gone ON {joined}"
    )


def _expected_columns(declared: dict[str, str], soft_delete: str | None) -> dict[str, str]:
    """The columns a view must show: those external_models.yaml declares, and the table's soft-delete
    column (of its declared type, else an untyped NULL, which casts to any type)."""
    expected = dict(declared)
    if soft_delete is not None and soft_delete not in expected:
        expected[soft_delete] = ""
    return expected


def _with_missing(con: duckdb.DuckDBPyConnection, select: str, expected: dict[str, str], view: str) -> str:
    """`select` with every expected column that no loaded file held (a column empty in every file of a
    drop is not loaded) added as a typed NULL, so the models reading it still bind."""
    if not expected:
        return select
    try:
        loaded = {row[0] for row in con.execute(f"DESCRIBE {select}").fetchall()}
    except duckdb.Error as exc:
        raise PlatformError(f"The raw view {view} cannot be created: {exc}") from None
    missing = [
        f"{f'CAST(NULL AS {kind})' if kind else 'NULL'} AS {sql_identifier(name)}" for name, kind in expected.items() if name not in loaded
    ]
    if not missing:
        return select
    log.info("%s: no load holds %d declared column(s); shown as NULL", view, len(missing))
    return f"SELECT *, {', '.join(missing)} FROM ({select})"


def _empty_sql(columns: dict[str, str]) -> str:
    typed = [f"CAST(NULL AS {kind}) AS {sql_identifier(name)}" for name, kind in columns.items()]
    if DELETED_FLAG not in columns:
        typed.append(f"false AS {DELETED_FLAG}")
    return f"SELECT {', '.join(typed)} WHERE false"


def declared_columns(project_dir: Path) -> dict[str, dict[str, str]]:
    """The columns and types of each raw table in `external_models.yaml` (empty when there is none)."""
    path = project_dir / EXTERNAL_MODELS
    if not path.is_file():
        return {}
    entries = yaml.safe_load(path.read_text()) or []
    found = {}
    for entry in entries:
        columns = entry.get("columns") or {}
        for name, kind in columns.items():
            if not str(name).replace("_", "a").isalnum() or not all(part.isalnum() or part in " (),_" for part in str(kind)):
                raise PlatformError(f"{path}: column {name!r} of {entry.get('name')} has an unexpected name or type {kind!r}")
        found[entry["name"]] = {str(name): str(kind) for name, kind in columns.items()}
    return found
