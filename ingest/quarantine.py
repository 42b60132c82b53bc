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


def write_quarantine(lake: Lake, source: str, table: str, parts: list[pa.Table], load_id: str) -> str | None:
    """Write one table's refused rows of one load as one Parquet file; return its address."""
    if not parts:
        return None
    rows = pa.concat_tables(parts, promote_options="permissive")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = rows.append_column("_dlt_load_id", pa.array([load_id] * rows.num_rows, pa.string()))
    rows = rows.append_column("_quarantined_at", pa.array([now] * rows.num_rows, pa.timestamp("us")))
    folder = quarantine_url(lake, source, table)
    lake.make_folder(folder)
    buffer = io.BytesIO()
    pq.write_table(rows, buffer)
    # a reader never sees half a file: one PUT on S3, write aside and rename locally
    lake.write_bytes_atomic(f"{folder}/{load_id}.parquet", buffer.getvalue())
    return f"{folder}/{load_id}.parquet"


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
