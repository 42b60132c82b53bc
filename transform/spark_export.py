"""Publishing what the Spark gateway built: the usual publisher, reading Spark's Parquet.

Spark's tables are Parquet files already. An in-memory DuckDB gets a view
`<schema>.<table>` per prod mart and staging model over the files Spark reads
for it (`DataFrame.inputFiles()`, no Spark job), and publish_marts /
publish_staging copy them into the lake behind the same manifests as a DuckDB
build: readers cannot tell the engines apart. A relation whose files do not
match it column for column (an empty table, a view with its own projection) is
written out by Spark to a scratch folder under `data/spark/` first.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb

from core import warehouse
from core.settings import Settings
from core.warehouse import sql_literal
from transform.context import spark_session, uses_spark
from transform.spark_gateway import spark_dir

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# The models that are published, and the warehouse's record of the loads they reflect (transform/state.py).
EXPORTED_SCHEMAS = ("marts", "staging", "sqlmesh_platform")


@contextlib.contextmanager
def publish_source(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """What publishing reads: None (the DuckDB warehouse) on the DuckDB gateway, else Spark's Parquet."""
    if not uses_spark(settings):
        yield None
        return
    with spark_export(settings, spark_session(settings)) as con:
        yield con


@contextlib.contextmanager
def spark_export(settings: Settings, spark, schemas: tuple[str, ...] = EXPORTED_SCHEMAS) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB whose `<schema>.<table>` views read the Parquet of Spark's relations of the same names."""
    spark_dir(settings).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="export-", dir=spark_dir(settings)))
    try:
        with contextlib.closing(warehouse.connect()) as con:
            for schema in schemas:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                for name in _relations(spark, schema):
                    if not NAME.match(name):
                        raise ValueError(f"not a table name: {schema}.{name!r}")
                    _export(con, spark.table(f"{schema}.{name}"), f"{schema}.{name}", scratch / schema / name)
            yield con
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _export(con: duckdb.DuckDBPyConnection, frame, relation: str, scratch: Path) -> None:
    files = [_local(path) for path in frame.inputFiles()]
    if files and all(path.endswith(".parquet") for path in files):
        con.execute(f"CREATE VIEW {relation} AS SELECT * FROM read_parquet([{', '.join(map(sql_literal, files))}])")
        if [row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()] == frame.columns:
            return
        con.execute(f"DROP VIEW {relation}")
    frame.write.parquet(str(scratch))
    con.execute(f"CREATE VIEW {relation} AS SELECT * FROM read_parquet({sql_literal(scratch / '*.parquet')})")


def _local(uri: str) -> str:
    """Spark names local files `file:///...`; DuckDB reads the plain path (and `s3://` for `s3a://`)."""
    if uri.startswith("file:"):
        return "/" + uri.removeprefix("file:").lstrip("/")
    return "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri


def _relations(spark, schema: str) -> list[str]:
    """The tables and views of a schema, by name only (catalog.listTables fetches every table's metadata: slow)."""
    if not spark.catalog.databaseExists(schema):
        return []
    return sorted(row.tableName for row in spark.sql(f"SHOW TABLES IN {schema}").collect() if not row.isTemporary)
