"""Which raw Parquet files cannot be read: what `just doctor` reports and a failed ingest names."""

from __future__ import annotations

import contextlib

import duckdb

from core import warehouse
from core.run_context import RunContext
from core.warehouse import sql_literal


def damaged_raw_files(run: RunContext, sources: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(file, `source.table`, error) for every raw Parquet file that cannot be read whole: a truncated
    file, or one whose pages were overwritten. Every file is decoded, streaming, one at a time."""
    settings, lake = run.settings, run.lake
    damaged = []
    with contextlib.closing(lake.attach(warehouse.connect())) as con:
        for source in sources or list(settings.sources):
            for table in settings.sources[source].tables:
                for path in lake.fs.glob(lake.url("raw", source, table) + "/*.parquet"):
                    url = f"s3://{path}" if lake.backend == "s3" and "://" not in path else path
                    try:
                        for _ in con.execute(f"SELECT * FROM read_parquet({sql_literal(url)})").to_arrow_reader():
                            pass
                    except duckdb.Error as exc:
                        damaged.append((url, f"{source}.{table}", (str(exc).strip().splitlines() or [""])[0][:200]))
    return damaged
