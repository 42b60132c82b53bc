"""Publish sides (the platform's atomic publish against a plain COPY), and the hand-written DuckDB pipeline."""

from __future__ import annotations

import contextlib

from bench.sides_transform import apply_duckdb_settings
from core import warehouse
from core.run_context import open_run
from core.settings import Settings
from publish.marts import marts_schema


def platform(settings: Settings, params: dict) -> dict:
    from publish.marts import publish_marts
    from transform.lineage import personal_columns

    return {"rows": publish_marts(open_run(settings), params["marts"], personal=personal_columns(settings)).rows}


def duckdb_copy(settings: Settings, params: dict) -> dict:
    """COPY each mart of the warehouse to one Parquet file, nothing else."""
    out = settings.data_dir / "out"
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(warehouse.connect(settings.warehouse_path, read_only=True)) as con:
        for mart in params["marts"]:
            name = mart.split(".")[-1]
            target = warehouse.sql_literal(out / f"{name}.parquet")
            con.execute(f"COPY (SELECT * FROM {marts_schema()}.{name}) TO {target} (FORMAT parquet, COMPRESSION zstd)")
    return {"marts": len(params["marts"])}


def duckdb_pipeline(settings: Settings, params: dict) -> dict:
    """The whole job by hand in one DuckDB: sqlite_scan → Parquet, the rendered models as tables, marts → Parquet.

    No load ids, state, audits, tests, run log, lock or manifest: the floor the platform is measured against.
    """
    source_name = settings.demo.source
    source = settings.source_path(source_name)
    raw, marts = settings.data_dir / "raw", settings.data_dir / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(warehouse.connect(settings.warehouse_path, extensions=("sqlite_scanner",))) as con:
        apply_duckdb_settings(con, params)
        con.execute(f"CREATE SCHEMA raw_{source_name}")
        for table in settings.sources[source_name].tables:
            (raw / table).mkdir(parents=True)
            target = warehouse.sql_literal(raw / table / "data.parquet")
            con.execute(
                f"COPY (SELECT * FROM sqlite_scan({warehouse.sql_literal(source)}, {warehouse.sql_literal(table)})) "
                f"TO {target} (FORMAT parquet)"
            )
            con.execute(
                f"CREATE VIEW raw_{source_name}.{table} AS SELECT *, '0' AS _dlt_load_id, false AS _deleted FROM read_parquet({target})"
            )
        for model in params["models"]:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {model['schema']}")
            con.execute(f"CREATE TABLE {model['table']} AS {model['sql']}")
        rows = {}
        for model in params["models"]:
            if model["name"].startswith("marts."):
                name = model["name"].split(".")[-1]
                con.execute(
                    f"COPY {model['table']} TO {warehouse.sql_literal(marts / f'{name}.parquet')} (FORMAT parquet, COMPRESSION zstd)"
                )
                [(rows[name],)] = con.execute(f"SELECT count(*) FROM {model['table']}").fetchall()
    return {"rows": rows}
