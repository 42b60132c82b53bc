"""Reading landed files into batches, with unreadable rows set aside instead of crashing.

Each reader yields `Batch`es: rows (an Arrow table for CSV and Parquet, a list of dicts
for JSONL, so that dlt's schema contracts and variant columns apply to JSON as they
do to APIs) and rejects (an Arrow table: the raw text of each unreadable row, its line,
`_check`, `_column` and `_failure`). A file that cannot be read at all raises
`FileRefused` with the reason; it is recorded and skipped.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

FORMATS = ("csv", "jsonl", "parquet")
MAX_RAW_CHARS = 10_000  # of an unreadable row kept in quarantine


class FileRefused(Exception):
    """The whole file is unusable (empty, not the declared format, corrupt)."""


@dataclass
class Batch:
    rows: Any
    rejects: list[dict] = field(default_factory=list)

    def rejects_table(self, relative: str) -> pa.Table:
        table = pa.Table.from_pylist(
            self.rejects,
            schema=pa.schema([("_raw", pa.string()), ("_line", pa.int64()), ("_check", pa.string()), ("_failure", pa.string())]),
        )
        table = table.append_column("_column", pa.array([None] * table.num_rows, pa.string()))
        return table.append_column("_source_file", pa.array([relative] * table.num_rows, pa.string()))


def read_file(
    path: str, fmt: str, *, fs: fsspec.AbstractFileSystem, batch_rows: int, delimiter: str = ",", encoding: str = "utf-8"
) -> Iterator[Batch]:
    """Read a landed file (a local path or an object URL, through `fs`) in batches."""
    if fmt not in FORMATS:
        raise FileRefused(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} (set `format` for the table)")
    if fs.size(path) == 0:
        raise FileRefused("empty file (0 bytes)")
    if fmt == "parquet":
        yield from _parquet(fs, path, batch_rows)
    elif fmt == "jsonl":
        yield from _jsonl(fs, path, batch_rows, encoding)
    else:
        yield from _csv(fs.cat_file(path), batch_rows, delimiter, encoding)


def _reject(raw: str | bytes, line: int | None, check: str, failure: str) -> dict:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return {"_raw": text[:MAX_RAW_CHARS], "_line": line, "_check": check, "_failure": failure}


def _parquet(fs: fsspec.AbstractFileSystem, path: str, batch_rows: int) -> Iterator[Batch]:
    with fs.open(path, "rb") as handle:
        try:
            reader = pq.ParquetFile(handle)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRefused(f"not a readable Parquet file: {exc}") from None
        for batch in reader.iter_batches(batch_size=batch_rows):
            yield Batch(pa.Table.from_batches([batch]))


def _jsonl(fs: fsspec.AbstractFileSystem, path: str, batch_rows: int, encoding: str) -> Iterator[Batch]:
    rows: list[dict] = []
    rejects: list[dict] = []
    with fs.open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode(encoding))
            except UnicodeDecodeError as exc:
                rejects.append(_reject(raw, number, "encoding", f"not {encoding}: {exc.reason} at byte {exc.start}"))
                continue
            except json.JSONDecodeError as exc:
                rejects.append(_reject(raw, number, "json", f"broken JSON: {exc.msg} at column {exc.colno}"))
                continue
            if not isinstance(value, dict):
                rejects.append(_reject(raw, number, "json", f"a JSON {type(value).__name__}, not an object"))
                continue
            rows.append(value)
            if len(rows) >= batch_rows:
                yield Batch(rows, rejects)
                rows, rejects = [], []
    if rows or rejects:
        yield Batch(rows, rejects)


def _csv(data: bytes, batch_rows: int, delimiter: str, encoding: str) -> Iterator[Batch]:
    rejects: list[dict] = []
    if not _decodes(data, encoding):
        data, rejects = _drop_undecodable_lines(data, encoding)
    tables = _parse_csv(data, delimiter, encoding, rejects)
    table = tables[0] if len(tables) == 1 else _concat(tables)
    if table.num_rows == 0:
        yield Batch(table, rejects)
        return
    for start in range(0, table.num_rows, batch_rows):
        yield Batch(table.slice(start, batch_rows), rejects if start == 0 else [])


def _parse_csv(data: bytes, delimiter: str, encoding: str, rejects: list[dict], depth: int = 0) -> list[pa.Table]:
    """Parse; a row swallowed by an unbalanced quote is refused alone and the lines after it are parsed again."""
    ragged: list = []

    def on_invalid_row(row) -> str:
        ragged.append(row)
        return "skip"

    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(encoding=encoding, block_size=max(1 << 20, len(data) + 1)),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid_row, newlines_in_values=True),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise FileRefused("no header row (empty CSV)") from None
        raise FileRefused(f"not readable as CSV: {str(exc).splitlines()[0]}") from None
    tables = [table]
    header = data.split(b"\n", 1)[0] + b"\n"
    for row in ragged:
        text = row.text or ""
        first, _, rest = text.partition("\n")
        if rest and depth < 100:
            rejects.append(_reject(first, row.number, "csv", "unbalanced quote: the field never ends on this line"))
            again = _parse_csv(header + rest.encode(encoding) + b"\n", delimiter, encoding, rejects, depth + 1)
            tables += [t for t in again if t.num_rows]
        else:
            rejects.append(_reject(text, row.number, "csv", f"expected {row.expected_columns} columns, got {row.actual_columns}"))
    return tables


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Parts parsed apart may infer different types: fall back to text, which the contract types again."""
    try:
        return pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        as_text = [t.cast(pa.schema([(name, pa.string()) for name in t.column_names])) for t in tables]
        return pa.concat_tables(as_text, promote_options="default")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        codecs.decode(data, encoding)
        return True
    except UnicodeDecodeError:
        return False


def _drop_undecodable_lines(data: bytes, encoding: str) -> tuple[bytes, list[dict]]:
    kept, rejects = [], []
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            line.decode(encoding)
            kept.append(line)
        except UnicodeDecodeError as exc:
            rejects.append(_reject(line.rstrip(b"\r\n"), number, "encoding", f"not {encoding}: {exc.reason} at byte {exc.start}"))
    return b"".join(kept), rejects
