"""Quarantine: rows refused at the ingestion boundary, kept in the lake with the reason.

Layout: `lake://raw/<source>/_quarantine/<table>/<load_id>.parquet`. Every value of the
row is kept as text, plus `_check` (the most telling failed check), `_column`, `_failure`
(the offending value), `_failures` (every failed check, column and value, a JSON list),
`_source_file` and `_line` (for file drops: the landed file and the line where the row
starts; the row number in a Parquet file), `_dlt_load_id` and `_quarantined_at`.
`just quarantine` lists them (`quarantined_rows`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from core import warehouse
from core.errors import PlatformError
from core.lake import Lake
from core.settings import Settings

FOLDER = "_quarantine"


def quarantine_url(lake: Lake, source: str, table: str) -> str:
    return lake.url("raw", source, FOLDER, table)


class SpilledRows:
    """Quarantine rows kept on local disk (a Parquet file per batch in `folder`) until the load's quarantine
    file is written: the rows a file read in parts sets aside may be more than memory holds. They are
    erased (core/erasures.py) before they are added."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: list[Path] = []
        self.num_rows = 0
        self.schema: pa.Schema | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, rows: pa.Table) -> None:
        path = self.folder / f"rows-{len(self.paths):08d}.parquet"
        pq.write_table(rows, path, compression="zstd")
        self.paths.append(path)
        self.num_rows += rows.num_rows
        self.schema = rows.schema if self.schema is None else pa.unify_schemas([self.schema, rows.schema], promote_options="permissive")

    def head(self, limit: int) -> pa.Table:
        """The first `limit` rows (of the first file)."""
        return pq.read_table(self.paths[0]).slice(0, limit) if self.paths else pa.table({})

    def tables(self) -> Iterator[pa.Table]:
        for path in self.paths:
            yield pq.read_table(path)

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def write_quarantine(lake: Lake, source: str, table: str, parts: list[pa.Table | SpilledRows], load_id: str) -> str | None:
    """Write one table's refused rows of one load as one Parquet file; return its address. Rows spilled to disk
    are written a batch at a time, so the file may be larger than memory."""
    if not parts:
        return None
    folder = quarantine_url(lake, source, table)
    lake.make_folder(folder)
    where = f"{folder}/{load_id}.parquet"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stamped = lambda rows: rows.append_column("_dlt_load_id", pa.array([load_id] * rows.num_rows, pa.string())).append_column(
        "_quarantined_at", pa.array([now] * rows.num_rows, pa.timestamp("us"))
    )
    spilled = [part for part in parts if isinstance(part, SpilledRows)]
    if not spilled:
        buffer = io.BytesIO()
        pq.write_table(stamped(pa.concat_tables(parts, promote_options="permissive")), buffer)
        # a reader never sees half a file: one PUT on S3, write aside and rename locally
        lake.write_bytes_atomic(where, buffer.getvalue())
        return where
    schemas = [part.schema for part in parts if part.schema is not None]
    schema = stamped(pa.unify_schemas(schemas, promote_options="permissive").empty_table()).schema
    local = spilled[0].folder / f"{load_id}.parquet"
    with pq.ParquetWriter(local, schema) as writer:
        for part in parts:
            for rows in part.tables() if isinstance(part, SpilledRows) else [part]:
                writer.write_table(_conformed(stamped(rows), schema))
    lake.put_file_atomic(local, where)
    local.unlink()
    return where


def _conformed(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with `schema`'s columns, in its order and types (a column a batch lacks is all null)."""
    columns = [
        rows[field.name].cast(field.type) if field.name in rows.column_names else pa.nulls(rows.num_rows, field.type) for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def drop_earlier_quarantine(lake: Lake, source: str, table: str, keep: list[str]) -> int:
    """Remove a table's quarantine files of loads other than `keep` (a table read again whole); return how many."""
    found = lake.fs.glob(quarantine_url(lake, source, table) + "/*.parquet")
    dropped = [path for path in found if PurePosixPath(path).stem not in keep]
    for path in dropped:
        lake.fs.rm(path)
    return len(dropped)


@dataclass(frozen=True)
class QuarantinedRow:
    """One quarantined row as `just quarantine` lists it."""

    source: str
    table: str
    source_file: str | None
    line: int | None
    check: str
    column: str | None
    failure: str | None
    failures: str | None  # every failed check, a JSON list
    load_id: str


def quarantined_rows(
    settings: Settings, source: str | None = None, table: str | None = None, file: str | None = None, limit: int = 100
) -> list[QuarantinedRow]:
    """The quarantined rows of the declared sources (or one source, table or landed file), newest loads first."""
    if source is not None and source not in settings.sources:
        raise PlatformError(f"No source {source!r} in config.yaml; declared: {', '.join(settings.sources)}.")
    lake = Lake(settings)
    found: list[QuarantinedRow] = []
    with contextlib.closing(lake.attach(warehouse.connect())) as con:
        for name in [source] if source else list(settings.sources):
            for table_name in _quarantined_tables(lake, name):
                if table is None or table == table_name:
                    found += _read_rows(con, lake, name, table_name, file)
    found.sort(key=lambda row: (row.source, row.table, row.source_file or "", row.line or 0))
    return sorted(found, key=lambda row: row.load_id, reverse=True)[:limit]  # stable: newest load first


def _quarantined_tables(lake: Lake, source: str) -> list[str]:
    folder = quarantine_url(lake, source, "")
    try:
        entries = lake.fs.ls(folder.rstrip("/"), detail=False) if folder.startswith("s3://") else [str(p) for p in Path(folder).iterdir()]
    except FileNotFoundError:
        return []
    return sorted(PurePosixPath(entry.rstrip("/")).name for entry in entries)


ROW_COLUMNS = ("_source_file", "_line", "_check", "_column", "_failure", "_failures", "_dlt_load_id")


def _read_rows(con, lake: Lake, source: str, table: str, file: str | None) -> list[QuarantinedRow]:
    rows = f"read_parquet({warehouse.sql_literal(quarantine_url(lake, source, table) + '/*.parquet')}, union_by_name := true)"
    columns = {name for name, *_ in con.execute(f"DESCRIBE SELECT * FROM {rows}").fetchall()}
    if file is not None and "_source_file" not in columns:
        return []
    # a column that a quarantine file written by an earlier version lacks reads as NULL
    picked = ", ".join(f'"{name}"' if name in columns else "NULL" for name in ROW_COLUMNS)
    where, params = ("", []) if file is None else (" WHERE _source_file = ?", [file])
    return [QuarantinedRow(source, table, *row) for row in con.execute(f"SELECT {picked} FROM {rows}{where}", params).fetchall()]
