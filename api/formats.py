"""A page of rows as the bytes of each output format: JSON and CSV, Parquet and Arrow IPC for bulk reads."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}


@dataclass(frozen=True)
class Page:
    body: bytes
    has_more: bool
    rows: int


def json_page(con: duckdb.DuckDBPyConnection, sql: str, params: list, limit: int, envelope: dict, next_link: str) -> Page:
    """`envelope` with `next` (the link, when there are more rows) and the rows, each already JSON made by DuckDB."""
    rows = [row[0] for row in con.execute(sql, params).fetchall()]
    has_more = len(rows) > limit
    head = json.dumps({**envelope, "next": next_link if has_more else None})
    # DuckDB wrote each row's JSON (exact decimals, ISO dates); splice them in rather than parse them again.
    body = head[:-1] + ', "rows": [' + ",".join(rows[:limit]) + "]}"
    return Page(body.encode(), has_more, min(len(rows), limit))


def arrow_page(con: duckdb.DuckDBPyConnection, sql: str, params: list, limit: int, output: str) -> Page:
    """The page as CSV, Parquet or an Arrow IPC stream."""
    table = con.execute(sql, params).to_arrow_table()
    has_more = table.num_rows > limit
    table = table.slice(0, limit)
    sink = io.BytesIO()
    if output == "csv":
        pa_csv.write_csv(table, sink)
    elif output == "parquet":
        pq.write_table(table, sink, compression="zstd")
    else:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return Page(sink.getvalue(), has_more, table.num_rows)
