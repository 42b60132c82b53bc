"""Quarantine: rows refused at the ingestion boundary, kept in the lake with the reason.

Layout: `lake://raw/<source>/_quarantine/<table>/<load_id>.parquet`. Every value of the
row is kept as text, plus `_check` (the failed check), `_column`, `_failure` (the
offending value), `_dlt_load_id` and `_quarantined_at`.
"""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq

from core.lake import Lake

FOLDER = "_quarantine"


def quarantine_url(lake: Lake, source: str, table: str) -> str:
    return lake.url("raw", source, FOLDER, table)


def write_quarantine(lake: Lake, source: str, table: str, parts: list[pa.Table], load_id: str) -> str | None:
    """Write one table's refused rows of one load as one Parquet file; return its address."""
    if not parts:
        return None
    rows = pa.concat_tables(parts, promote_options="permissive")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = rows.append_column("_dlt_load_id", pa.array([load_id] * rows.num_rows, pa.string()))
    rows = rows.append_column("_quarantined_at", pa.array([now] * rows.num_rows, pa.timestamp("us")))
    folder = quarantine_url(lake, source, table)
    lake.make_folder(folder)
    buffer = io.BytesIO()
    pq.write_table(rows, buffer)
    # a reader never sees half a file: one PUT on S3, write aside and rename locally
    lake.write_bytes_atomic(f"{folder}/{load_id}.parquet", buffer.getvalue())
    return f"{folder}/{load_id}.parquet"
