"""Ingest sides: the platform's dlt pipeline, DuckDB's sqlite_scan → COPY, and naive pandas.

Each writes every declared table of the demo source to Parquet under its data folder.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

from core import warehouse
from core.run_context import open_run
from core.settings import Settings


def platform(settings: Settings, params: dict) -> dict:
    from ingest.pipeline import ingest_source

    result = ingest_source(open_run(settings), settings.demo.source)
    return {"rows": result.total_rows}


def duckdb_copy(settings: Settings, params: dict) -> dict:
    source = settings.sources[settings.demo.source]
    path = settings.source_path(settings.demo.source)
    rows = 0
    with contextlib.closing(warehouse.connect(extensions=("sqlite_scanner",))) as con:
        for table in source.tables:
            target = _target(settings, table)
            con.execute(
                f"COPY (SELECT * FROM sqlite_scan({warehouse.sql_literal(path)}, {warehouse.sql_literal(table)})) "
                f"TO {warehouse.sql_literal(target)} (FORMAT parquet)"
            )
            [(count,)] = con.execute(f"SELECT count(*) FROM read_parquet({warehouse.sql_literal(target)})").fetchall()
            rows += count
    return {"rows": rows}


def pandas_naive(settings: Settings, params: dict) -> dict:
    import pandas as pd

    source = settings.sources[settings.demo.source]
    rows = 0
    with contextlib.closing(sqlite3.connect(settings.source_path(settings.demo.source))) as con:
        for table in source.tables:
            frame = pd.read_sql(f'SELECT * FROM "{table}"', con)
            frame.to_parquet(_target(settings, table), index=False)
            rows += len(frame)
    return {"rows": rows}


def _target(settings: Settings, table: str) -> Path:
    folder = settings.data_dir / "out" / table
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "data.parquet"


def parquet_stats(folders: list[Path]) -> dict:
    """File count, rows, rows per row group, and the smallest row group that is not its file's last (not timed)."""
    files = [file for folder in folders for file in sorted(folder.glob("*.parquet"))]
    rows = groups = 0
    smallest = None
    for file in files:
        meta = pq.ParquetFile(file).metadata
        rows += meta.num_rows
        groups += meta.num_row_groups
        for index in range(meta.num_row_groups - 1):  # a file's last group holds the remainder
            size = meta.row_group(index).num_rows
            smallest = size if smallest is None else min(smallest, size)
    return {
        "files": len(files),
        "rows": rows,
        "row_groups": groups,
        "rows_per_row_group": round(rows / groups) if groups else 0,
        "smallest_full_row_group": smallest,
    }
