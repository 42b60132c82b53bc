"""The raw layer inside Spark: one view per ingested table, over completed loads only.

The Spark twin of transform/raw_views.py: `raw_<source>.<table>` (the names
external_models.yaml declares) reads the same lake paths, and shows only the
rows of loads that dlt recorded as complete in `_dlt_loads`. The views live in
the gateway's Hive metastore and are recreated before every plan (under the
writer lock), naming the completed loads of that moment: a load that completes
later becomes visible at the next build.

On the s3 backend the paths become `s3a://`, which needs the hadoop-aws jar and
the S3A settings on the Spark side (README, "When one machine is not enough").
"""

from __future__ import annotations

import contextlib

import duckdb

from core import warehouse
from core.errors import PlatformError
from core.lake import DELETED_SUFFIX, Lake
from core.settings import Settings
from core.warehouse import sql_literal
from transform.raw_views import DELETED_FLAG


def spark_path(url: str) -> str:
    """A lake URL as Spark's Hadoop file systems name it, quoted for Spark SQL's `format.`path`` syntax."""
    if url.startswith("s3://"):
        url = "s3a://" + url.removeprefix("s3://")
    if "`" in url:
        raise PlatformError(f"A lake path for Spark may not contain a backtick: {url}")
    return f"`{url}`"


def completed_loads(lake: Lake, source_name: str) -> list[str]:
    """The load ids that dlt recorded as complete (status 0) for a source, oldest first."""
    loads = lake.url("raw", source_name, "_dlt_loads") + "/*.jsonl"
    with contextlib.closing(lake.attach(warehouse.connect())) as con:
        try:
            rows = con.execute(
                f"SELECT load_id FROM read_json({sql_literal(loads)}, format := 'newline_delimited') WHERE status = 0 ORDER BY load_id"
            ).fetchall()
        except duckdb.IOException:
            return []
    return [row[0] for row in rows]


def create_spark_raw_views(spark, settings: Settings) -> list[str]:
    """(Re)create `raw_<source>.<table>` in Spark for every declared table; return the view names."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException

    lake = Lake(settings)
    views = []
    for source_name, source in settings.sources.items():
        loads = ", ".join(sql_literal(load_id) for load_id in completed_loads(lake, source_name)) or "NULL"
        spark.sql(f"CREATE DATABASE IF NOT EXISTS raw_{source_name}")
        for table in source.tables:
            files = lake.parquet_glob("raw", source_name, table)
            view = f"raw_{source_name}.{table}"
            rows = f"SELECT * FROM parquet.{spark_path(files)} WHERE _dlt_load_id IN ({loads})"
            try:
                spark.sql(
                    f"CREATE OR REPLACE VIEW {view} AS {_with_deleted_flag(lake, source_name, table, source.tables[table], rows, loads)}"
                )
            except (AnalysisException, Py4JJavaError) as exc:
                first_line = str(exc).strip().splitlines()[0]
                raise PlatformError(
                    f"Spark cannot read the raw data of {source_name}.{table} at {files}: run the ingestion first "
                    f"(`just run`), or on S3 give Spark the S3A settings. ({first_line})"
                ) from None
            views.append(view)
    return views


def _with_deleted_flag(lake: Lake, source_name: str, table: str, spec, rows: str, loads: str) -> str:
    """The rows with `_deleted`, as transform/raw_views.py gives DuckDB: true for a row whose key a
    later completed load found gone from the source (`<table>__deleted`)."""
    tombstones = lake.parquet_glob("raw", source_name, table + DELETED_SUFFIX)
    if not (getattr(spec, "detect_hard_deletes", False) and lake.fs.glob(tombstones)):
        return f"SELECT *, false AS {DELETED_FLAG} FROM ({rows})"
    keys = ", ".join(f"`{column}`" for column in spec.key_columns)
    gone = (
        f"SELECT {keys}, max(_dlt_load_id) AS _gone_in FROM parquet.{spark_path(tombstones)} "
        f"WHERE _dlt_load_id IN ({loads}) GROUP BY {keys}"
    )
    joined = " AND ".join(f"loaded.`{column}` = gone.`{column}`" for column in spec.key_columns)
    return (
        f"SELECT loaded.*, coalesce(gone._gone_in > loaded._dlt_load_id, false) AS {DELETED_FLAG} "
        f"FROM ({rows}) AS loaded LEFT JOIN ({gone}) AS gone ON {joined}"
    )
