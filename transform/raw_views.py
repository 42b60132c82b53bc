"""The raw layer inside the warehouse: one view per ingested table, over completed loads only.

dlt records a load in `_dlt_loads` only once all of its files are written, so a
load that was stopped half-way is never visible to the staging models. On the s3
backend the views read `s3://` through httpfs; the connection that queries them
needs the lake's secret (`Lake.attach`, or SQLMesh's connection config).
"""

from __future__ import annotations

import duckdb

from core.errors import PlatformError
from core.lake import Lake
from core.warehouse import sql_literal
from core.settings import Settings


def create_raw_views(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """(Re)create `raw_<source>.<table>` for every declared table; return the view names."""
    lake = Lake(settings)
    lake.attach(con)
    views = []
    for source_name, source in settings.sources.items():
        loads = lake.url("raw", source_name, "_dlt_loads") + "/*.jsonl"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS raw_{source_name}")
        for table in source.tables:
            files = lake.parquet_glob("raw", source_name, table)
            view = f"raw_{source_name}.{table}"
            try:
                con.execute(
                    f"CREATE OR REPLACE VIEW {view} AS "
                    f"SELECT * FROM read_parquet({sql_literal(files)}, union_by_name := true) "
                    f"WHERE _dlt_load_id IN (SELECT load_id FROM read_json({sql_literal(loads)}, "
                    "format := 'newline_delimited') WHERE status = 0)"
                )
            except duckdb.IOException as exc:
                raise PlatformError(
                    f"No raw data for {source_name}.{table} at {files}: run the ingestion first (`just run`). ({exc})"
                ) from None
            views.append(view)
    return views
