"""SQL database sources: one dlt resource per declared table, incremental on its cursor."""

from __future__ import annotations

from pathlib import Path

import dlt
from dlt.sources.sql_database import sql_table

from core.errors import PlatformError
from core.settings import SourceSettings


def connection_url(source: SourceSettings, path: Path) -> str:
    """The SQLAlchemy URL of a source; its file must exist."""
    if not path.is_file():
        raise PlatformError(f"Source database {path} does not exist. Check `path` under its source in config.yaml.")
    return f"sqlite:///{path}"


def table_resources(source: SourceSettings, url: str) -> list:
    """Arrow-backed resources, appended in chunks; the latest version per key wins downstream."""
    return [
        sql_table(
            credentials=url,
            table=name,
            backend="pyarrow",
            chunk_size=source.chunk_size,
            incremental=dlt.sources.incremental(table.cursor),
            primary_key=table.primary_key,
            write_disposition="append",
            reflection_level="full",
        )
        for name, table in source.tables.items()
    ]
