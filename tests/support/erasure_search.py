"""Search files for values as bytes and decoded: Parquet and DuckDB compress strings, so a byte search alone proves little."""

from __future__ import annotations

import contextlib
import gzip
import sqlite3
from pathlib import Path

import duckdb


def find_values(folder: Path, values: list[str], skip: tuple[Path, ...] = ()) -> list[str]:
    """Every file under `folder` (but `skip`) holding one of `values`: in its bytes, gunzipped, or in
    any cell of a Parquet file, a DuckDB database or a SQLite database. Returns 'path: how' lines."""
    hits: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if any(path == s or s in path.parents for s in skip):
            continue
        data = path.read_bytes()
        hits += [f"{path}: bytes {value!r}" for value in values if value.encode() in data]
        if data[:2] == b"\x1f\x8b":
            with contextlib.suppress(OSError, EOFError):
                text = gzip.decompress(data)
                hits += [f"{path}: gunzipped {value!r}" for value in values if value.encode() in text]
        cells = _cells(path, data)
        hits += [f"{path}: decoded {value!r}" for value in values if any(value in cell for cell in cells)]
    return hits


def _cells(path: Path, data: bytes) -> list[str]:
    """Every value of every table in the file, as text, when it is Parquet, DuckDB or SQLite."""
    if data[:4] == b"PAR1":
        with contextlib.closing(duckdb.connect()) as con:
            return _text(con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall())
    if data[8:12] == b"DUCK":
        with contextlib.closing(duckdb.connect(str(path), read_only=True)) as con:
            tables = con.execute(
                "SELECT table_catalog, table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            ).fetchall()
            return [cell for table in tables for cell in _text(con.execute('SELECT * FROM "{}"."{}"."{}"'.format(*table)).fetchall())]
    if data[:16] == b"SQLite format 3\x00":
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            tables = [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return [cell for table in tables for cell in _text(con.execute(f'SELECT * FROM "{table}"').fetchall())]
    return []


def _text(rows: list[tuple]) -> list[str]:
    return [str(cell) for row in rows for cell in row if cell is not None]


def download_buckets(endpoint: str, access_key: str, secret_key: str, buckets: list[str], target: Path) -> int:
    """Every object of the buckets, straight from the S3 server, into `target/<bucket>/<key>`; returns how many."""
    import botocore.session

    s3 = botocore.session.get_session().create_client(
        "s3", endpoint_url=f"http://{endpoint}", region_name="us-east-1", aws_access_key_id=access_key, aws_secret_access_key=secret_key
    )
    count = 0
    for bucket in buckets:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                path = target / bucket / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                count += 1
    return count
