"""The primary key of a file-drop table, row by row: a file without a key column is refused alone; a row
without its key (missing, blank, or a value of another type than the key's loaded type) goes to quarantine;
of the rows of one file that share a key, the last one loads (the earlier ones go to quarantine as
superseded, so every row of a file is accounted for); and files that share a key go to separate loads.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core import warehouse
from ingest.contracts import text_columns, text_rows
from ingest.exact_values import KEPT_AS_TEXT
from ingest.file_readers import FileRefused
from ingest.quarantine import SpilledRows

KEY_MISSING = "key_missing"
KEY_TYPE = "key_type"
DUPLICATE_KEY = "duplicate_key"
VARIANT = "__v_"  # dlt's name for a value of another type: `<column>__v_<type>`


def refuse_missing_key_columns(columns: Iterable[str], keys: list[str]) -> None:
    """Refuse a file whose rows have no column for (part of) the table's key."""
    present = set(columns)
    missing = [key for key in keys if key not in present]
    if missing:
        named = ", ".join(repr(key) for key in missing)
        raise FileRefused(
            f"no key column {named} in the file (the table's primary_key is {', '.join(keys)}); "
            "add the column to the file, or set the table's primary_key in config.yaml"
        )


def whole_number_keys(batches: list[pa.Table | list[dict]], keys: list[str]) -> dict[str, str]:
    """The key columns that a file's reader typed as text although most of their values (blanks aside) are whole
    numbers, none with a leading zero or a plus sign, and those of JSON rows most of whose values are JSON integers:
    `bigint` for each, so that a value of another type is a `key_type` row, as in a later file, and does not make
    the whole column text (nor, in JSON rows, decide the column's type by whichever value comes first)."""
    typed: dict[str, str] = {}
    for key in keys:
        values = [row.get(key) for rows in batches if isinstance(rows, list) for row in rows]
        present = [value for value in values if value is not None and not (isinstance(value, str) and not value.strip())]
        if present and sum(isinstance(value, int) and not isinstance(value, bool) for value in present) * 2 > len(present):
            typed[key] = "bigint"
            continue
        chunks = [
            chunk
            for rows in batches
            if isinstance(rows, pa.Table) and key in rows.column_names and pa.types.is_string(rows.schema.field(key).type)
            for chunk in rows[key].chunks
        ]
        if not chunks:
            continue
        values = pc.utf8_trim_whitespace(pc.drop_null(pa.chunked_array(chunks, pa.string())))
        present = pc.filter(values, pc.greater(pc.utf8_length(values), 0))
        if pc.any(pc.match_substring_regex(present, KEPT_AS_TEXT)).as_py():
            continue  # identifiers such as 00123 or +33612345678, text as the reader kept them
        whole = pc.sum(pc.match_substring_regex(present, r"^-?[0-9]{1,18}$")).as_py() or 0
        if whole * 2 > len(present):
            typed[key] = "bigint"
    return typed


@dataclass
class KeyCheck:
    """A batch's rows with a usable key, and the others as quarantine rows (None when there are none)."""

    rows: pa.Table | list[dict]
    lines: list[int] | None
    quarantined: pa.Table | None


def split_bad_keys(
    rows: pa.Table | list[dict], keys: list[str], lines: list[int] | None, relative: str, known: dict[str, str] | None = None
) -> KeyCheck:
    """Set aside the rows whose key is missing, blank, or of another type: held in a variant column (Arrow
    rows), or (JSON rows) not of the key column's `known` dlt type, or of the batch's first key's type."""
    checks: list[tuple[str, str, str | None]] = []
    if isinstance(rows, list):
        kinds = {
            key: (known or {}).get(key) or _json_kind(next((r.get(key) for r in rows if not _blank(r.get(key))), None)) for key in keys
        }
        for row in rows:
            key = next((k for k in keys if _blank(row.get(k))), None)
            if key is not None:
                checks.append((KEY_MISSING, key, None))
                continue
            key = next((k for k in keys if not _fits(row[k], kinds[k])), None)
            checks.append(
                (KEY_TYPE, key, f"a {_json_kind(row[key])} value in a key column of type {kinds[key]}") if key else ("", "", None)
            )
        bad = [i for i, check in enumerate(checks) if check[0]]
        if not bad:
            return KeyCheck(rows, lines, None)
        dropped = set(bad)
        picked = text_rows([rows[i] for i in bad])
        checks = [checks[i] for i in bad]
        kept = [row for i, row in enumerate(rows) if i not in dropped]
        kept_lines = None if lines is None else [n for i, n in enumerate(lines) if i not in dropped]
        return KeyCheck(kept, kept_lines, quarantine_rows(picked, checks, bad, lines, relative))
    bad_mask = None
    for key in keys:
        missing = missing_key(rows[key])
        bad_mask = missing if bad_mask is None else pc.or_(bad_mask, missing)
    assert bad_mask is not None, "a key has one column at least"
    if not pc.any(bad_mask).as_py():
        return KeyCheck(rows, lines, None)
    positions = pc.indices_nonzero(bad_mask).to_pylist()
    for position in positions:
        # As for JSON rows: a key part that is missing outranks one of another type in the same row.
        empty = [k for k in keys if missing_key(rows[k].slice(position, 1))[0].as_py()]
        variants = {k: variant_at(rows, k, position) for k in empty}
        key = next((k for k in empty if variants[k] is None), None)
        if key is not None:
            checks.append((KEY_MISSING, key, None))
        else:
            key = empty[0]
            kind = str(variants[key]).removeprefix(key + VARIANT)
            checks.append((KEY_TYPE, key, f"a {kind} value in a key column loaded as another type"))
    quarantined = quarantine_rows(text_columns(rows.take(pa.array(positions))), checks, positions, lines, relative)
    kept = without_empty_key_variants(rows.filter(pc.invert(bad_mask)), keys)
    kept_lines = None if lines is None else [n for n, bad in zip(lines, bad_mask.to_pylist(), strict=True) if not bad]
    return KeyCheck(kept, kept_lines, quarantined)


@dataclass
class Superseded:
    """The batches of one file with only the last row of each key (and the lines of their rows), and the
    earlier rows as quarantine rows."""

    batches: list
    lines: list[list[int] | None]
    quarantined: pa.Table | SpilledRows | None = None  # spilled to disk: a file read in parts
    keys_repeated: int = 0


def last_of_each_key(batches: list, lines: list[list[int] | None], keys: list[str], relative: str) -> Superseded:
    """Of the rows of one file (its batches in file order, `lines` of each) that share a key, keep the last.
    Rows missing (part of) the key are left alone: they are refused later, by split_bad_keys."""
    sizes = [len(b) if isinstance(b, list) else b.num_rows for b in batches]
    total = sum(sizes)
    if total < 2:
        return Superseded(batches, lines)
    columns = {key: _key_values(batches, key) for key in keys}
    index = pa.table({**columns, "_row": pa.array(np.arange(total), pa.int64())})
    present = None
    for key in keys:
        has = pc.invert(missing_key(columns[key]))
        present = has if present is None else pc.and_(present, has)
    index = index.filter(present)
    if not _repeats(index, keys):
        return Superseded(batches, lines)
    groups = index.group_by(keys, use_threads=False).aggregate([("_row", "max"), ("_row", "count")])
    if groups.num_rows == index.num_rows:
        return Superseded(batches, lines)
    winners = index.join(groups.select([*keys, "_row_max"]), keys, use_threads=False)
    winner = np.arange(total)  # per row of the file, the row whose version of its key loads
    winner[winners["_row"].to_numpy()] = winners["_row_max"].to_numpy()
    every_line: list[int | None] = []
    for batch_lines, size in zip(lines, sizes, strict=True):
        every_line += batch_lines if batch_lines is not None else [None] * size
    kept: list = []
    kept_lines: list[list[int] | None] = []
    out: list[pa.Table] = []
    start = 0
    for batch, batch_lines, size in zip(batches, lines, sizes, strict=True):
        flags = winner[start : start + size] == np.arange(start, start + size)
        positions = np.flatnonzero(~flags).tolist()
        kept_lines.append(
            batch_lines if batch_lines is None or not positions else [n for n, ok in zip(batch_lines, flags.tolist(), strict=True) if ok]
        )
        if not positions:
            kept.append(batch)
            start += size
            continue
        if isinstance(batch, list):
            kept.append([row for row, ok in zip(batch, flags.tolist(), strict=True) if ok])
            picked = text_rows([batch[i] for i in positions])
        else:
            kept.append(batch.filter(pa.array(flags)))
            picked = text_columns(batch.take(pa.array(positions)))
        rows = [start + i for i in positions]
        checks: list[tuple[str, str, str | None]] = [
            (DUPLICATE_KEY, ",".join(keys), superseded_by(every_line[int(winner[r])])) for r in rows
        ]
        out.append(quarantine_rows(picked, checks, list(range(len(rows))), [every_line[r] for r in rows], relative))
        start += size
    repeated = int(pc.sum(pc.greater(groups["_row_count"], 1)).as_py())
    return Superseded(kept, kept_lines, pa.concat_tables(out, promote_options="permissive"), repeated)


class LoadKeys:
    """The keys of the files of one table taken into one load, to tell whether the next file may join it.

    A file that holds one of their keys may not: it waits for the next load, so that the later version of a key
    always carries the later load id. Keys are compared as loaded: one integer key column as itself, others by a
    64-bit hash of their columns (two keys sharing a hash only cost an extra load). A file whose key columns are
    typed otherwise than the load's, or are not comparable so (floating point, JSON rows), joins no load of others.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.kinds: tuple[pa.DataType, ...] | None = None
        # the load's key values in sorted runs, each at least as long as the next: a file is searched in a few runs,
        # however many files joined (a run per file made a load of thousands of small files quadratic)
        self.runs: list[np.ndarray] = []
        self.closed = False  # holds a file whose keys cannot be compared

    def take(self, batches: list) -> bool:
        """Add the keys of a file's batches unless the file shares a key with the load (or cannot be compared with
        it); return whether they were added. A file without rows joins any load."""
        if not any(len(b) if isinstance(b, list) else b.num_rows for b in batches):
            return True
        if self.closed:
            return False
        found = _fingerprints(batches, self.keys)
        if found is None:
            self.closed = not self.runs
            return self.closed
        kinds, values = found
        if self.runs and kinds != self.kinds:
            return False
        values = np.sort(values, kind="stable")  # in order already, as ids often are: one pass
        if any(_share_a_value(run, values) for run in self.runs):
            return False
        self.kinds = kinds
        self.runs.append(values)
        while len(self.runs) > 1 and len(self.runs[-2]) <= len(self.runs[-1]):
            merged = np.concatenate(self.runs[-2:])
            self.runs[-2:] = [np.sort(merged, kind="stable")]  # two sorted runs: merged in one pass
        return True


def _share_a_value(one: np.ndarray, other: np.ndarray) -> bool:
    """Whether two sorted arrays hold a common value: the values of the shorter within the other's range, searched in it
    (nothing to search when the ranges are apart)."""
    if len(one) > len(other):
        one, other = other, one
    window = one[np.searchsorted(one, other[0], "left") : np.searchsorted(one, other[-1], "right")]
    if not len(window):
        return False
    found = np.minimum(np.searchsorted(other, window), len(other) - 1)
    return bool(np.any(other[found] == window))


def _fingerprints(batches: list[pa.Table], keys: list[str]) -> tuple[tuple[pa.DataType, ...], np.ndarray] | None:
    """The key columns' types and one number per row for the key; None when keys cannot be compared across files."""
    if any(isinstance(batch, list) for batch in batches):
        return None
    batches = [batch for batch in batches if batch.num_rows]
    kinds = []
    for key in keys:
        types = {batch.schema.field(key).type for batch in batches}
        if len(types) != 1 or not _comparable(next(iter(types))):
            return None
        kinds.append(next(iter(types)))
    columns = [pa.chunked_array([c for batch in batches for c in batch[key].chunks], kind) for key, kind in zip(keys, kinds, strict=True)]
    if len(keys) == 1 and pa.types.is_integer(kinds[0]) and kinds[0] != pa.uint64():
        return tuple(kinds), pc.cast(columns[0], pa.int64()).to_numpy()
    return tuple(kinds), _hashes(pa.table({f"k{i}": column for i, column in enumerate(columns)}))


def _hashes(table: pa.Table) -> np.ndarray:
    """One 64-bit hash per row of `table` (DuckDB's, over every column): equal rows hash alike."""
    with contextlib.closing(warehouse.connect()) as con:
        hashed = con.from_arrow(table).project(f"hash({', '.join(table.column_names)}) AS h").fetchnumpy()["h"]
    return np.asarray(hashed).view(np.int64)


def _comparable(kind: pa.DataType) -> bool:
    """Equal values of the type are equal keys once loaded (not so floating point: -0.0 and 0.0)."""
    return (
        any(
            check(kind)
            for check in (pa.types.is_integer, pa.types.is_string, pa.types.is_large_string, pa.types.is_timestamp, pa.types.is_date)
        )
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
    )


def superseded_by(line: int | None) -> str:
    return f"superseded by the later row at line {line}" if line is not None else "superseded by a later row of the file"


def _repeats(index: pa.Table, keys: list[str]) -> bool:
    """Whether a key occurs twice. One integer key is compared as itself (in order, as ids often are, in one
    pass); other keys by a hash of their columns, exactly only when two rows' hashes are equal."""
    single_integer = len(keys) == 1 and pa.types.is_integer(index.schema.field(keys[0]).type)
    values = index[keys[0]].to_numpy() if single_integer else _hashes(index.select(keys))
    if single_integer and bool(np.all(values[1:] > values[:-1])):
        return False
    ordered = np.sort(values)
    if not bool(np.any(ordered[1:] == ordered[:-1])):
        return False
    return single_integer or index.group_by(keys, use_threads=False).aggregate([]).num_rows < index.num_rows


def _key_values(batches: list, key: str) -> pa.ChunkedArray:
    """A key column over every batch: as it is when the batches are Arrow tables holding it as the same integer, text,
    date or timestamp type (equal values are then equal keys), else as text."""
    types = {batch.schema.field(key).type for batch in batches if not isinstance(batch, list)}
    if len(types) == 1 and not any(isinstance(batch, list) for batch in batches):
        [kind] = types
        if pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return pa.chunked_array([chunk for batch in batches for chunk in batch[key].chunks], kind)
    return pa.chunked_array([key_text(batch, key) for batch in batches], pa.string())


def key_text(batch, key: str) -> pa.Array:
    if isinstance(batch, list):
        return pa.array([None if row.get(key) is None else str(row.get(key)) for row in batch], pa.string())
    column = batch[key]
    return pc.cast(column, pa.string()).combine_chunks() if isinstance(column, pa.ChunkedArray) else pc.cast(column, pa.string())


def missing_key(column) -> pa.Array:
    missing = pc.is_null(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        missing = pc.or_(missing, pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True))
    return missing.combine_chunks() if isinstance(missing, pa.ChunkedArray) else missing


def _json_kind(value) -> str | None:
    """The dlt type a JSON value loads as (None for a missing one)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    return "text" if isinstance(value, str) else "json"


def _fits(value, kind: str | None) -> bool:
    found = _json_kind(value)
    return (
        kind is None
        or found == kind
        or (kind == "double" and found == "bigint")
        or (found == "text" and kind not in ("bigint", "double", "bool", "json"))
    )


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def quarantine_rows(
    picked: pa.Table,
    checks: list[tuple[str, str, str | None]],
    positions: list[int],
    lines: list[int | None] | list[int] | None,
    relative: str | None,
) -> pa.Table:
    """Quarantine rows (every value as text) with their check, column, reason and where they came from."""
    every = [json.dumps([{"check": check, "column": column, "value": failure}]) for check, column, failure in checks]
    for name, values in (
        ("_check", [c[0] for c in checks]),
        ("_column", [c[1] for c in checks]),
        ("_failure", [c[2] for c in checks]),
        ("_failures", every),
        ("_source_file", [relative] * len(checks)),
    ):
        picked = picked.append_column(name, pa.array(values, pa.string()))
    return picked.append_column("_line", pa.array([lines[p] for p in positions] if lines else [None] * len(checks), pa.int64()))


def without_empty_key_variants(rows: pa.Table, keys: list[str]) -> pa.Table:
    """`rows` without the key columns' variant columns that hold no value: they held only the refused values."""
    empty = [c for key in keys for c in rows.column_names if c.startswith(key + VARIANT) and rows[c].null_count == rows.num_rows]
    return rows.drop_columns(empty) if empty else rows


def variant_at(rows: pa.Table, key: str, position: int) -> str | None:
    """The variant column holding the value of `key` at `position` that did not fit its type, if any."""
    return next((c for c in rows.column_names if c.startswith(key + VARIANT) and not _blank(rows[c][position].as_py())), None)
