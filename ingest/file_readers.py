"""Reading landed files into batches, with unreadable rows set aside instead of crashing.

Each reader yields `Batch`es: rows (an Arrow table for CSV and Parquet, a list of dicts
for JSONL, so that dlt's schema contracts and variant columns apply to JSON as they
do to APIs), the line of each row (where its record starts in a CSV or JSONL file; the
row number in a Parquet file) and rejects (the raw text of each unreadable row, its
line, `_check`, `_column` and `_failure`). A file that cannot be read at all (empty, a
repeated column name, not the declared format) raises `FileRefused` with the reason;
it is recorded and skipped.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from dlt.common.normalizers.naming.snake_case import NamingConvention

from core.errors import without_values
from core.settings_sources import MISSING_VALUES
from ingest.exact_values import keep_exact, loads_exact, may_change

FORMATS = ("csv", "jsonl", "parquet")
_NAMING = NamingConvention()  # dlt's default: how a column is named in raw
MAX_RAW_CHARS = 10_000  # of an unreadable row kept in quarantine


class FileRefused(Exception):
    """The whole file is unusable (empty, not the declared format, corrupt)."""


@dataclass
class Batch:
    rows: Any
    rejects: list[dict] = field(default_factory=list)
    lines: list[int] | None = None  # of each row; None when unknown
    notes: list[str] = field(default_factory=list)  # what the reader did to the file's values, to say in the run summary

    @property
    def size(self) -> int:
        return len(self.rows) if isinstance(self.rows, list) else self.rows.num_rows

    def rejects_table(self, relative: str) -> pa.Table:
        table = pa.Table.from_pylist(
            self.rejects,
            schema=pa.schema([("_raw", pa.string()), ("_line", pa.int64()), ("_check", pa.string()), ("_failure", pa.string())]),
        )
        every = [json.dumps([{"check": r["_check"], "column": None, "value": r["_failure"]}]) for r in self.rejects]
        table = table.append_column("_column", pa.array([None] * table.num_rows, pa.string()))
        table = table.append_column("_failures", pa.array(every, pa.string()))
        return table.append_column("_source_file", pa.array([relative] * table.num_rows, pa.string()))


def read_file(
    path: str,
    fmt: str,
    *,
    fs: fsspec.AbstractFileSystem,
    batch_rows: int,
    delimiter: str = ",",
    encoding: str = "utf-8",
    missing: tuple[str, ...] = MISSING_VALUES,
) -> Iterator[Batch]:
    """Read a landed file (a local path or an object URL, through `fs`) whole, in batches; in a CSV, a field that is
    one of `missing` is a missing value in every column (an empty field too, in a column that is not text)."""
    if fmt not in FORMATS:
        raise FileRefused(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} (set `format` for the table)")
    if fs.size(path) == 0:
        raise FileRefused("empty file (0 bytes)")
    if fmt == "parquet":
        yield from _parquet(fs, path, batch_rows)
    elif fmt == "jsonl":
        yield from _jsonl(fs, path, batch_rows, encoding)
    else:
        yield from _csv(fs.cat_file(path), batch_rows, delimiter, encoding, missing)


def read_in_parts(
    path: str,
    fmt: str,
    *,
    fs: fsspec.AbstractFileSystem,
    batch_rows: int,
    max_memory: int,
    delimiter: str = ",",
    encoding: str = "utf-8",
    missing: tuple[str, ...] = MISSING_VALUES,
) -> Iterator[Batch]:
    """A file too large to read whole (its reading would take more than `max_memory` bytes), a part at a time: a
    Parquet file by batches of `batch_rows`, a JSONL file by `batch_rows` lines, a CSV file by parts that end where a
    record ends, each parsed under the file's header and typed by its own values. A file in an encoding whose line
    ends and quotes are not single bytes (UTF-16, UTF-32) is refused, naming the size to split it to."""
    if fmt == "parquet":
        yield from _parquet(fs, path, batch_rows)
        return
    single_bytes = '\n"'.encode(encoding)[-2:] == b'\n"'  # line ends and quotes: a part may end at any line end
    if fmt == "jsonl" and single_bytes:
        yield from _jsonl(fs, path, batch_rows, encoding, _part_bytes(max_memory, fmt))
        return
    if fmt != "csv" or not single_bytes:
        size = fs.size(path)
        kind = f"a {'CSV' if fmt == 'csv' else fmt} file in {encoding}"
        raise FileRefused(
            f"too large to read: a {fmt} file of {_size(size)} takes about {_size(memory_to_read(fs, path, fmt, size))} of memory "
            f"to read and check, more than the {_size(max_memory)} this source may use (max_file_memory_mb), and {kind} is "
            f"not read in parts. Split it into files of at most about {_size(max_memory // MEMORY_PER_BYTE[fmt])} and drop "
            "them again, or raise max_file_memory_mb"
        )
    for data, first_line in _csv_parts(fs, path, _part_bytes(max_memory, fmt)):
        yield from _csv(data, batch_rows, delimiter, encoding, missing, first_line)


def _part_bytes(max_memory: int, fmt: str) -> int:
    """How many bytes of a file one part of it holds: its reading takes about half of `max_memory`."""
    return min(256 * 2**20, max(64 * 2**10, max_memory // (2 * MEMORY_PER_BYTE[fmt])))


def _csv_parts(fs: fsspec.AbstractFileSystem, path: str, part_bytes: int) -> Iterator[tuple[bytes, int]]:
    """A CSV file as parts of about `part_bytes`, each the header and whole records (a quoted field may hold line ends),
    with the line of the file that the header stands for. An unbalanced quote would make a record of the rest of the
    file: a part that has found no record end in four times `part_bytes` ends at its last line end."""
    header: bytes | None = None
    carry = b""
    lines_before = 0  # line ends in the file before `carry`
    with fs.open(path, "rb") as handle:
        while True:
            block = handle.read(part_bytes)
            data = carry + block
            if not block:
                if data.strip(b"\r\n"):
                    yield (data, 1) if header is None else (header + data, lines_before)
                return
            cut = _last_record_end(data)
            if cut < 0 and len(data) >= 4 * part_bytes:
                cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            part, carry = data[: cut + 1], data[cut + 1 :]
            if header is None:
                header = part[len(part) - len(part.lstrip(b"\r\n")) : _last_record_end(part, first=True) + 1]
                yield part, 1
            else:
                yield header + part, lines_before
            lines_before += part.count(b"\n")


def _last_record_end(data: bytes, *, first: bool = False) -> int:
    """The position of the last (or `first`, after any blank lines) line end in `data` that ends a record: one with an
    even count of quotes before it. -1 when there is none."""
    raw = np.frombuffer(data, np.uint8)
    newlines = _positions(raw, "\n")
    if not len(newlines):
        return -1
    closes = np.searchsorted(_positions(raw, '"'), newlines) % 2 == 0
    if first:
        filled = np.flatnonzero(closes & (newlines > len(data) - len(data.lstrip(b"\r\n"))))
        return int(newlines[filled[0]]) if len(filled) else -1
    found = np.flatnonzero(closes)
    return int(newlines[found[-1]]) if len(found) else -1


# What reading and checking a file takes in memory, per byte of it (of a Parquet file: per byte of its data
# decoded, at least 8 bytes a value); measured on generated files: a CSV file 4.4x, JSONL 8.2x
MEMORY_PER_BYTE = {"csv": 5, "jsonl": 10, "parquet": 4}


def memory_to_read(fs: fsspec.AbstractFileSystem, path: str, fmt: str, size: int) -> int:
    """About how many bytes of memory reading and checking a landed file takes."""
    if fmt == "parquet":
        with fs.open(path, "rb") as handle:
            try:
                meta = pq.ParquetFile(handle).metadata
            except (pa.ArrowInvalid, OSError):
                return size * MEMORY_PER_BYTE[fmt]  # unreadable: refused as such when it is read
            encoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            size = max(size, encoded, meta.num_rows * meta.num_columns * 8)  # a repeated value is encoded in a few bytes
    return size * MEMORY_PER_BYTE[fmt]


def _size(count: float) -> str:
    units = ("bytes", "KB", "MB", "GB", "TB")
    step = 0
    while count >= 1000 and step < len(units) - 1:
        count, step = count / 1000, step + 1
    return f"{count:,.0f} bytes" if step == 0 else f"{count:,.1f} {units[step]}"


def _reject(raw: str | bytes, line: int | None, check: str, failure: str) -> dict:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return {"_raw": text[:MAX_RAW_CHARS], "_line": line, "_check": check, "_failure": failure}


def _parquet(fs: fsspec.AbstractFileSystem, path: str, batch_rows: int) -> Iterator[Batch]:
    with fs.open(path, "rb") as handle:
        try:
            reader = pq.ParquetFile(handle)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRefused(f"not a readable Parquet file: {without_values(str(exc))}") from None
        _refuse_unusable_names(reader.schema_arrow.names)
        names = raw_names(reader.schema_arrow.names)
        start = 1
        for batch in reader.iter_batches(batch_size=batch_rows):
            yield Batch(pa.Table.from_batches([batch]).rename_columns(names), lines=list(range(start, start + batch.num_rows)))
            start += batch.num_rows


def _jsonl(fs: fsspec.AbstractFileSystem, path: str, batch_rows: int, encoding: str, part_bytes: int | None = None) -> Iterator[Batch]:
    """The file's objects in batches of `batch_rows`, or (read in parts) of at most about `part_bytes` of the file."""
    rows: list[dict] = []
    lines: list[int] = []
    rejects: list[dict] = []
    read = 0  # bytes of the file in the batch
    with fs.open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            read += len(raw)
            if not raw.strip():
                continue
            try:
                value = loads_exact(raw, encoding)
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
            lines.append(number)
            if len(rows) >= batch_rows or (part_bytes is not None and read >= part_bytes):
                yield Batch(_named_as_raw(rows), rejects, lines)
                rows, lines, rejects, read = [], [], [], 0
    if rows or rejects:
        yield Batch(_named_as_raw(rows), rejects, lines)


def _named_as_raw(rows: list[dict]) -> list[dict]:
    """JSON rows with their keys named as raw names them (after refusing keys that raw cannot name apart)."""
    keys = sorted(set().union(*rows))
    _refuse_unusable_names(keys, "key")
    renamed = {key: name for key, name in zip(keys, raw_names(keys), strict=True) if key != name}
    if not renamed:
        return rows
    return [{renamed.get(key, key): value for key, value in row.items()} for row in rows]


def _csv(data: bytes, batch_rows: int, delimiter: str, encoding: str, missing: tuple[str, ...], first_line: int = 1) -> Iterator[Batch]:
    """`data`: a header line, then rows; `first_line`: the file's line that the header stands for (the header's own,
    or the line before a part's first row)."""
    rejects: list[dict] = []
    notes: list[str] = []
    if not _decodes(data, encoding):
        data, rejects = _blank_undecodable_lines(data, encoding, first_line)
    parts = _parse_csv(data, delimiter, encoding, rejects, notes, missing, first_line)
    del data  # the file's bytes are not held while its batches are checked and written
    table = _text_missing(parts[0][0] if len(parts) == 1 else _concat([t for t, _ in parts]), missing)
    _refuse_unusable_names(table.column_names)
    table = table.rename_columns(raw_names(table.column_names))
    known = [part_lines for _, part_lines in parts if part_lines is not None]
    if len(known) != len(parts):
        lines = None
    else:
        lines = known[0] if len(known) == 1 else [n for part_lines in known for n in part_lines]
    if table.num_rows == 0:
        yield Batch(table, rejects, lines, notes)
        return
    for start in range(0, table.num_rows, batch_rows):
        batch_lines = lines[start : start + batch_rows] if lines is not None else None
        yield Batch(table.slice(start, batch_rows), rejects if start == 0 else [], batch_lines, notes if start == 0 else [])


def _text_missing(table: pa.Table, missing: tuple[str, ...]) -> pa.Table:
    """The missing-value tokens of text columns as missing values (the parser keeps text as it is)."""
    tokens = pa.array(missing, pa.string())
    for index, column_field in enumerate(table.schema):
        if missing and pa.types.is_string(column_field.type):
            column = table.column(index)
            found = pc.is_in(column, value_set=tokens)
            if pc.any(found).as_py():  # else the column stays as it is, uncopied
                table = table.set_column(index, column_field, pc.if_else(found, pa.scalar(None, pa.string()), column))
    return table


def raw_names(names: list[str]) -> list[str]:
    """The names that raw gives columns (dlt's snake_case: `Order ID` is `order_id`): a file's columns are checked
    under them, so that a key, a contract or a column's loaded type is declared once, as raw has it."""
    return [_NAMING.normalize_path(name) for name in names]  # as dlt names an Arrow table's columns (`a__b` stays)


def _refuse_unusable_names(names: list[str], what: str = "column") -> None:
    """Refuse a header that repeats a column, names two columns that become one in raw (dlt's snake_case names:
    `Amount` and `amount`, `Order ID` and `order_id`), leaves one unnamed or takes a name dlt writes itself
    (`_dlt_load_id`). what: `column` (positions named, a header's) or `key` (a JSON file's)."""
    seen: dict[str, tuple[str, int]] = {}
    for position, name in enumerate(names, start=1):
        at = f" ({position})" if what == "column" else ""
        if not name.strip():
            unnamed = f"column {position}" if what == "column" else "a key"
            raise FileRefused(f"{unnamed} has no name; name it and drop the file again")
        column = _NAMING.normalize_path(name)
        if column.startswith("_dlt_"):
            raise FileRefused(f"{what} {name!r}{at} takes a name that dlt writes itself ({column}); drop or rename it")
        if column in seen:
            first, first_at = seen[column]
            before = f" ({first_at})" if what == "column" else ""
            if first == name:
                raise FileRefused(
                    f"the header repeats column {name!r} (columns {first_at} and {position}); rename one and drop the file again"
                )
            raise FileRefused(
                f"{what}s {first!r}{before} and {name!r}{at} would both be column {column!r} in raw; rename one and drop the file again"
            )
        seen[column] = (name, position)


def _parse_csv(
    data: bytes,
    delimiter: str,
    encoding: str,
    rejects: list[dict],
    notes: list[str],
    missing: tuple[str, ...],
    first_line: int = 1,
    depth: int = 0,
) -> list[tuple[pa.Table, list[int] | None]]:
    """Parse into (table, line of each row) parts; a row swallowed by an unbalanced quote is refused
    alone and the lines after it are parsed again. `first_line`: the line of the header in the file.
    A number column whose values its type would change is text (ingest/exact_values.py)."""
    ragged: list = []

    def on_invalid_row(row) -> str:
        ragged.append(row)
        return "skip"

    try:
        table = _read_csv(data, delimiter, encoding, missing, on_invalid_row)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise FileRefused("no header row (empty CSV)") from None
        raise FileRefused(f"not readable as CSV: {without_values(str(exc))}") from None
    lines, ragged_lines = _row_lines(data, encoding, [row.text or "" for row in ragged], table.num_rows, first_line)
    if len(set(table.column_names)) == len(table.column_names) and may_change(data, delimiter, encoding):
        table, changed = keep_exact(table, lambda names: _read_csv(data, delimiter, encoding, missing, lambda row: "skip", names), lines)
        notes += [note for note in changed if note not in notes]
    parts = [(table, lines)]
    end = data.find(b"\n")
    header = (data if end < 0 else data[:end]) + b"\n"
    for row, line in zip(ragged, ragged_lines, strict=True):
        text = row.text or ""
        first, _, rest = text.partition("\n")
        if rest and depth < 100:
            rejects.append(_reject(first, line, "csv", "unbalanced quote: the field never ends on this line"))
            # parsed again under the header, which stands in for the refused line
            again = _parse_csv(header + rest.encode(encoding) + b"\n", delimiter, encoding, rejects, notes, missing, line or 1, depth + 1)
            parts += [(t, part_lines if line is not None else None) for t, part_lines in again if t.num_rows]
        else:
            rejects.append(_reject(text, line, "csv", f"expected {row.expected_columns} columns, got {row.actual_columns}"))
    return parts


def _read_csv(
    data: bytes, delimiter: str, encoding: str, missing: tuple[str, ...], on_invalid_row, as_text: list[str] | None = None
) -> pa.Table:
    """The file's rows, each column typed by its values; or only the columns `as_text`, as text."""
    return pcsv.read_csv(
        pa.BufferReader(data),  # read in place, not copied
        read_options=pcsv.ReadOptions(encoding=encoding, block_size=max(1 << 20, len(data) + 1)),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid_row, newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            null_values=["", *missing],
            include_columns=as_text,
            column_types=dict.fromkeys(as_text or [], pa.string()),
        ),
    )


def _records(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line where each non-empty record starts (1-based), and its byte span, header first. A record ends
    at the first line end with an even count of quotes before it (a quoted field may span lines); an
    unbalanced quote runs to the end of the file. Empty lines are skipped, as the CSV parser skips them."""
    raw = np.frombuffer(data, np.uint8)
    newlines = _positions(raw, "\n")
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    if starts[-1] == len(data):  # the file ends with a line end
        starts, ends = starts[:-1], ends[:-1]
    quotes = _positions(raw, '"')
    closes = np.searchsorted(quotes, ends) % 2 == 0
    closes[-1:] = True
    last_lines = np.flatnonzero(closes)
    first_lines = np.concatenate(([0], last_lines[:-1] + 1))
    spans_from, spans_to = starts[first_lines], ends[last_lines]
    length = spans_to - spans_from
    carriage = raw[np.minimum(spans_from, max(len(data) - 1, 0))] == ord("\r") if len(data) else np.zeros(len(length), bool)
    kept = (length > 1) | ((length == 1) & ~carriage)
    return first_lines[kept] + 1, spans_from[kept], spans_to[kept]


def _positions(raw: np.ndarray, char: str, step: int = 1 << 24) -> np.ndarray:
    """Where `char` is in `raw`, scanned a slice at a time (a whole-file comparison would take a byte per byte)."""
    found = [np.flatnonzero(raw[start : start + step] == ord(char)) + start for start in range(0, len(raw), step)]
    return np.concatenate(found) if found else np.empty(0, np.int64)


def _row_lines(data: bytes, encoding: str, ragged: list[str], rows: int, first_line: int) -> tuple[list[int] | None, list[int | None]]:
    """The file line of each parsed row and of each skipped (ragged) row, matched in order; None where
    the records found here disagree with the parser's."""
    if not ragged and b'"' not in data and b"\r" not in data:
        # no quoted field and only \n ends lines: a row per line, so as many lines as rows (and the header) means no blank line
        line_count = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        if line_count == rows + 1:
            return list(range(first_line + 1, first_line + 1 + rows)), []
    numbers, spans_from, spans_to = (part[1:] for part in _records(data))
    numbers = numbers + (first_line - 1)
    if not ragged:
        return (numbers.tolist(), []) if len(numbers) == rows else (None, [])
    lines: list[int] = []
    ragged_lines: list[int | None] = []
    for number, start, end in zip(numbers.tolist(), spans_from.tolist(), spans_to.tolist(), strict=True):
        pending = len(ragged_lines) < len(ragged)
        if pending and data[start:end].decode(encoding, errors="replace").rstrip("\r\n") == ragged[len(ragged_lines)].rstrip("\r\n"):
            ragged_lines.append(number)
        else:
            lines.append(number)
    if len(lines) != rows or len(ragged_lines) != len(ragged):
        return None, [None] * len(ragged)
    return lines, ragged_lines


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Parts parsed apart may infer different types: fall back to text, which the contract types again."""
    try:
        return pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        as_text = [t.cast(pa.schema([(name, pa.string()) for name in t.column_names])) for t in tables]
        return pa.concat_tables(as_text, promote_options="default")


def _decodes(data: bytes, encoding: str) -> bool:
    if data.isascii() and codecs.lookup(encoding).name == "utf-8":  # without decoding it all
        return True
    try:
        codecs.decode(data, encoding)
        return True
    except UnicodeDecodeError:
        return False


def _blank_undecodable_lines(data: bytes, encoding: str, first_line: int = 1) -> tuple[bytes, list[dict]]:
    """Refuse every line that does not decode; a blank line takes its place, so the lines after keep their numbers."""
    kept, rejects = [], []
    for number, line in enumerate(data.splitlines(keepends=True), start=first_line):
        try:
            line.decode(encoding)
            kept.append(line)
        except UnicodeDecodeError as exc:
            rejects.append(_reject(line.rstrip(b"\r\n"), number, "encoding", f"not {encoding}: {exc.reason} at byte {exc.start}"))
            kept.append(b"\n")
    return b"".join(kept), rejects
