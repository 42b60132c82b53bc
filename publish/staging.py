"""Export the validated staging models to `lake://staging/<source>/<table>/`, behind a manifest per source.

`staging.stg_<source>__<table>` holds the latest, audited version of every row
of a declared table. After a successful build it is copied to the staging layer
(silver), version by version like the marts, so that tools other than the
warehouse can read clean data without opening the file a build is writing.
"""

from __future__ import annotations

import duckdb

from core.lake import Lake
from core.run_context import RunContext
from core.settings import Settings
from publish.versions import Table, Version, read_version, reading, write_version


def staging_folder(settings: Settings, source: str) -> str:
    return Lake(settings).url("staging", source)


def publish_staging(run: RunContext, *, source: duckdb.DuckDBPyConnection | None = None) -> dict[str, dict[str, int]]:
    """Copy every built staging model of every source to a new version; return rows per source and table.

    The models are read from the warehouse, or from `source` (see publish_marts)."""
    settings, lake = run.settings, run.lake
    published: dict[str, dict[str, int]] = {}
    with reading(lake, settings.warehouse_path, source) as con:
        built = {
            row[0] for row in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'staging'").fetchall()
        }
        for source_name, declared in settings.sources.items():
            tables = [
                Table(table, f"staging.stg_{source_name}__{table}") for table in declared.tables if f"stg_{source_name}__{table}" in built
            ]
            if tables:
                _, rows = write_version(
                    lake,
                    con,
                    staging_folder(settings, source_name),
                    tables,
                    extra={"source": source_name},
                    keep=settings.run.publish_keep_versions,
                )
                published[source_name] = rows
    return published


def current_staging(run: RunContext, source: str) -> Version | None:
    """The staging version the source's manifest points at, or None before the first export."""
    return read_version(run.lake, staging_folder(run.settings, source))
