"""A landed file too large to read whole (above its source's `max_file_memory_mb`), read a part at a time.

It is read twice. The first pass keeps only what it takes to find the earlier rows of a repeated key (each row's
key as text, its place in the file and its line) in a folder on disk, where DuckDB finds them. The second checks
each part as a whole file is checked, with those earlier rows set aside as `duplicate_key`, and holds the rows it
accepts on disk (`Held`, Arrow IPC files) until the whole file is accepted, so that nothing of a rejected file
loads; the load then reads them back a part at a time. Memory stays about one part's, whatever the file's size.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core import warehouse
from core.warehouse import sql_literal
from ingest.contracts import text_columns, text_rows
from ingest.file_keys import DUPLICATE_KEY, key_text, missing_key, quarantine_rows, superseded_by
from ingest.file_readers import Batch


@dataclass
class EarlierRows:
    """The rows of a file (by their place in it, from 0) that a later row of the same key supersedes, in order, with
    the line of the row that supersedes each (-1 when unknown); and how many keys repeat."""

    rows: np.ndarray
    winner_lines: np.ndarray
    keys_repeated: int


def earlier_rows(parts: Iterator[Batch], keys: list[str], folder: Path, memory: int) -> EarlierRows:
    """Read the file's key columns part by part into `folder`, and find the rows that a later row of their key supersedes
    (DuckDB, within `memory` bytes, the rest spilled to `folder`).
    Rows missing (part of) their key are left alone, as in a file read whole: they are refused when checked."""
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for number, batch in enumerate(parts):
        rows = batch.rows
        present = None
        columns = {}
        for i, key in enumerate(keys):
            if not isinstance(rows, list) and key not in rows.column_names:
                break
            values = key_text(rows, key)
            columns[f"k{i}"] = values
            has = pc.invert(missing_key(values))
            present = has if present is None else pc.and_(present, has)
        if len(columns) == len(keys) and batch.size:
            lines = pa.array(batch.lines if batch.lines is not None else [None] * batch.size, pa.int64())
            index = pa.table({**columns, "_row": pa.array(np.arange(start, start + batch.size), pa.int64()), "_line": lines})
            pq.write_table(index.filter(present), folder / f"keys-{number:08d}.parquet")
        start += batch.size
    if not any(folder.glob("keys-*.parquet")):
        return EarlierRows(np.empty(0, np.int64), np.empty(0, np.int64), 0)
    names = [f"k{i}" for i in range(len(keys))]
    together = " AND ".join(f"k.{name} = w.{name}" for name in names)
    rows = f"read_parquet({sql_literal(str(folder / 'keys-*.parquet'))}, union_by_name = true)"
    with contextlib.closing(warehouse.connect()) as con:
        con.execute(f"SET temp_directory = {sql_literal(str(folder / 'duckdb.tmp'))}")
        con.execute(f"SET memory_limit = '{max(256, memory // 2**20)}MB'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"CREATE TEMP TABLE w AS SELECT {', '.join(names)}, max(_row) AS winner FROM {rows} GROUP BY ALL HAVING count(*) > 1")
        repeated = con.execute("SELECT count(*) FROM w").fetchone()
        found = con.execute(
            f"SELECT k._row, coalesce(x._line, -1) AS line FROM {rows} AS k JOIN w ON {together} JOIN {rows} AS x ON x._row = w.winner "
            "WHERE k._row < w.winner ORDER BY k._row"
        ).fetchnumpy()
    return EarlierRows(np.asarray(found["_row"], np.int64), np.asarray(found["line"], np.int64), int(repeated[0]) if repeated else 0)


def set_aside_earlier(batch: Batch, start: int, earlier: EarlierRows, keys: list[str], relative: str) -> pa.Table | None:
    """Take out of `batch` (the rows of the file from `start`) the earlier rows of a repeated key; return them as
    quarantine rows, or None when it holds none."""
    size = batch.size
    low, high = np.searchsorted(earlier.rows, [start, start + size])
    if low == high:
        return None
    positions = (earlier.rows[low:high] - start).tolist()
    winners = earlier.winner_lines[low:high].tolist()
    checks: list[tuple[str, str, str | None]] = [(DUPLICATE_KEY, ",".join(keys), superseded_by(None if w < 0 else w)) for w in winners]
    kept = np.ones(size, bool)
    kept[positions] = False
    if isinstance(batch.rows, list):  # JSON rows
        picked = text_rows([batch.rows[p] for p in positions])
        batch.rows = [row for row, keep in zip(batch.rows, kept.tolist(), strict=True) if keep]
    else:
        picked = text_columns(batch.rows.take(pa.array(positions)))
        batch.rows = batch.rows.filter(pa.array(kept))
    quarantined = quarantine_rows(picked, checks, positions, batch.lines, relative)
    if batch.lines is not None:
        batch.lines = [line for line, keep in zip(batch.lines, kept.tolist(), strict=True) if keep]
    return quarantined


class Held:
    """The accepted rows of a file read in parts, on disk in `folder` until the load takes them: an Arrow IPC file per
    batch, or, for JSON rows that Arrow could not type (values of mixed types, which dlt makes variants of), the rows
    as Python objects; both compressed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, rows: pa.Table | list[dict]) -> None:
        if isinstance(rows, list):
            path = self.folder / f"rows-{len(self.files):08d}.pickle"
            with pa.CompressedOutputStream(str(path), "zstd") as out:
                out.write(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
        else:
            path = self.folder / f"rows-{len(self.files):08d}.arrow"
            with pa.ipc.new_file(str(path), rows.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
                writer.write_table(rows)
        self.files.append(path)

    def tables(self, columns: list[str] | None = None) -> Iterator[pa.Table | list[dict]]:
        """The held rows a batch at a time (only `columns`, when given)."""
        for path in self.files:
            if path.suffix == ".pickle":
                with pa.CompressedInputStream(str(path), "zstd") as source:
                    rows = pickle.loads(source.read())  # noqa: S301 - written just above by this process
                yield rows if columns is None else [{column: row.get(column) for column in columns} for row in rows]
                continue
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            yield table.select(columns) if columns is not None else table

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
