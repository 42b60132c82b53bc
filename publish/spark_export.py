"""Publishing what the Spark gateway built: Spark writes Parquet, and the usual publisher copies it.

Spark exports each prod mart and staging model to Parquet in a scratch folder
under `data/spark/`; an in-memory DuckDB gets views of the same names over
those files, and publish_marts / publish_staging copy them into the lake behind
the same manifests as a DuckDB build. Readers cannot tell the engines apart.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import duckdb

from core import warehouse
from core.settings import Settings
from core.warehouse import sql_literal
from publish.versions import NAME
from transform.context import uses_spark
from transform.spark_gateway import spark_dir, spark_session

EXPORTED_SCHEMAS = ("marts", "staging")


@contextlib.contextmanager
def publish_source(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """What publishing reads: None (the DuckDB warehouse) on the DuckDB gateway, else Spark's export."""
    if not uses_spark(settings):
        yield None
        return
    with spark_export(settings, spark_session(settings)) as con:
        yield con


@contextlib.contextmanager
def spark_export(settings: Settings, spark, schemas: tuple[str, ...] = EXPORTED_SCHEMAS) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB whose `<schema>.<table>` views read Spark's export of the same relations."""
    spark_dir(settings).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="export-", dir=spark_dir(settings)))
    try:
        with contextlib.closing(warehouse.connect()) as con:
            for schema in schemas:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                for name in _relations(spark, schema):
                    if not NAME.match(name):
                        raise ValueError(f"not a table name: {schema}.{name!r}")
                    target = folder / schema / name
                    spark.table(f"{schema}.{name}").write.parquet(str(target))
                    con.execute(
                        f"CREATE VIEW {schema}.{name} AS SELECT * FROM read_parquet({sql_literal(target / '*.parquet')})"
                    )
            yield con
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _relations(spark, schema: str) -> list[str]:
    if not spark.catalog.databaseExists(schema):
        return []
    return sorted(table.name for table in spark.catalog.listTables(schema) if not table.isTemporary)
