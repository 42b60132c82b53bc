"""Erasure: the subjects whose personal data was erased, and how one row set is erased.

One row per erasure in the metadata store's `erasures` (schema in core/metastore.py): when, which
`<source>.<table>`, the subject's key, and what was rewritten in each layer. The same rows are the
erasure list that every later ingest applies (ingest/guarded.py), so a subject erased once never
comes back from its source. docs/erasure.md says why the key itself is kept.

While an erasure is unfinished, the values it searches for are kept in `data/run/erasure-<id>.values`
(owner-only, written and synced before the first rewrite, removed once the record is closed): a
rerun after a kill finds them there, since the layers they were read from are already erased.

Erasing a row keeps its key and every column not declared personal; each declared personal column
becomes `TOMBSTONE` (text columns) or NULL (any other type).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from core.metastore import connect

TOMBSTONE = "[erased]"
Key = str | Sequence[str]  # the key column, or the columns of a composite key


def key_columns(key: Key) -> list[str]:
    return [key] if isinstance(key, str) else list(key)


def subject_key(columns: Sequence[str], values: Sequence[str]) -> str:
    """A subject's key as the erasure list keeps it: the value itself for a one-column key; for a composite
    key a JSON object of each key column's value as text, e.g. `{"order_id": "5", "line": "2"}`."""
    if len(columns) == 1:
        return values[0]
    return json.dumps(dict(zip(columns, values, strict=True)), ensure_ascii=False)


def key_parts(columns: Sequence[str], key: str) -> tuple[str, ...]:
    """The value of each key column (as text, in the key's order) of a key `subject_key` wrote; `columns` are
    the key's columns where it is matched, in the same order (a model may name them otherwise)."""
    if len(columns) == 1:
        return (key,)
    parts = tuple(str(part) for part in json.loads(key).values())
    if len(parts) != len(columns):
        raise ValueError(f"a key of {len(parts)} column(s) cannot be matched on {len(columns)}: {', '.join(columns)}")
    return parts


@dataclass(frozen=True)
class Erasure:
    """One erasure as the store keeps it; `rewritten` is None while it is unfinished (interrupted)."""

    erasure_id: int
    started_at: str
    finished_at: str | None
    source: str
    table: str
    key: str
    rewritten: dict[str, int] | None


def begin(meta_path: Path, source: str, table: str, key: str) -> int:
    """Put the key on the erasure list (from now on every ingest erases it) and open its record; an
    interrupted erasure of the same key is taken up again under its own record."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with contextlib.closing(connect(meta_path)) as con, con:
        unfinished = con.execute(
            "SELECT erasure_id FROM erasures WHERE source = ? AND table_name = ? AND subject_key = ? AND finished_at IS NULL",
            (source, table, key),
        ).fetchone()
        if unfinished is not None:
            return unfinished[0]
        cursor = con.execute(
            "INSERT INTO erasures (started_at, source, table_name, subject_key) VALUES (?, ?, ?, ?)", (now, source, table, key)
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def finish(meta_path: Path, erasure_id: int, rewritten: dict[str, int]) -> None:
    """Close the record with what was rewritten in each layer (counts only)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with contextlib.closing(connect(meta_path)) as con, con:
        con.execute("UPDATE erasures SET finished_at = ?, rewritten = ? WHERE erasure_id = ?", (now, json.dumps(rewritten), erasure_id))


def values_path(data_dir: Path, erasure_id: int) -> Path:
    return data_dir / "run" / f"erasure-{erasure_id}.values"


def save_values(data_dir: Path, erasure_id: int, values: set[str]) -> None:
    """Keep the values an erasure searches for, readable by the owner only, durably, before anything is rewritten."""
    path = values_path(data_dir, erasure_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.tmp")
    handle = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w") as out:
        json.dump(sorted(values), out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(aside, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def saved_values(data_dir: Path, erasure_id: int) -> set[str]:
    """The values an interrupted erasure saved; empty when it saved none."""
    try:
        return set(json.loads(values_path(data_dir, erasure_id).read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return set()


def drop_values(data_dir: Path, erasure_id: int) -> None:
    values_path(data_dir, erasure_id).unlink(missing_ok=True)
    values_path(data_dir, erasure_id).with_name(f".{values_path(data_dir, erasure_id).name}.tmp").unlink(missing_ok=True)


def erased_keys(meta_path: Path, source: str) -> dict[str, list[str]]:
    """The erased keys of each table of `source`, as text; empty before the store exists."""
    if not meta_path.exists():
        return {}
    with contextlib.closing(connect(meta_path)) as con:
        rows = con.execute("SELECT DISTINCT table_name, subject_key FROM erasures WHERE source = ? ORDER BY 1, 2", (source,)).fetchall()
    keys: dict[str, list[str]] = {}
    for table, key in rows:
        keys.setdefault(table, []).append(key)
    return keys


def erasures(meta_path: Path) -> list[Erasure]:
    """Every erasure, oldest first."""
    if not meta_path.exists():
        return []
    with contextlib.closing(connect(meta_path)) as con:
        rows = con.execute(
            "SELECT erasure_id, started_at, finished_at, source, table_name, subject_key, rewritten FROM erasures ORDER BY erasure_id"
        ).fetchall()
    return [
        Erasure(erasure_id, started, finished, source, table, key, json.loads(rewritten) if rewritten else None)
        for erasure_id, started, finished, source, table, key, rewritten in rows
    ]


def erase_rows(rows: pa.Table, key: Key, keys: Iterable[str], columns: Iterable[str]) -> tuple[pa.Table, int]:
    """`rows` with `columns` erased in the rows whose `key` (compared as text, column by column for a
    composite key) is one of `keys`; and how many rows that was."""
    names = key_columns(key)
    if any(name not in rows.column_names for name in names):
        return rows, 0
    if len(names) == 1:
        return _erase_where(rows, _among(rows[names[0]], keys), columns)
    texts = [pc.cast(rows[name], pa.string()) for name in names]
    hit = None
    for parts in sorted({key_parts(names, k) for k in keys}):
        same = pc.equal(texts[0], parts[0])
        for text, part in zip(texts[1:], parts[1:], strict=True):
            same = pc.and_(same, pc.equal(text, part))
        same = pc.fill_null(same, False)
        hit = same if hit is None else pc.or_(hit, same)
    return (rows, 0) if hit is None else _erase_where(rows, hit, columns)


def erase_values(rows: pa.Table, columns: Iterable[str], values: Iterable[str]) -> tuple[pa.Table, int]:
    """`rows` with `columns` erased in the rows where one of them holds one of `values`: for a table
    where the subject's rows cannot be found by key."""
    present = [column for column in columns if column in rows.column_names]
    if not present:
        return rows, 0
    hit = _among(rows[present[0]], values)
    for column in present[1:]:
        hit = pc.or_(hit, _among(rows[column], values))
    return _erase_where(rows, hit, present)


def _among(column: pa.ChunkedArray, values: Iterable[str]) -> pa.ChunkedArray:
    wanted = pa.array(sorted(set(values)), pa.string())
    return pc.fill_null(pc.is_in(pc.cast(column, pa.string()), value_set=wanted), False)


def _erase_where(rows: pa.Table, hit: pa.ChunkedArray, columns: Iterable[str]) -> tuple[pa.Table, int]:
    present = [column for column in columns if column in rows.column_names]
    count = pc.sum(hit).as_py() or 0
    if not count or not present:
        return rows, 0
    for column in present:
        index = rows.schema.get_field_index(column)
        field = rows.schema.field(index)
        erased = pa.scalar(TOMBSTONE if _is_text(field.type) else None, field.type)
        rows = rows.set_column(index, field, pc.if_else(hit, erased, rows[column]))
    return rows, count


def erase_records(records: list[dict], key: Key, keys: Iterable[str], columns: Iterable[str]) -> int:
    """Erase `columns` in place in the records (dicts, as REST sources yield them) whose key is one of `keys`."""
    names = key_columns(key)
    wanted, count = {key_parts(names, k) for k in keys}, 0
    for record in records:
        if isinstance(record, dict) and all(n in record for n in names) and tuple(str(record[n]) for n in names) in wanted:
            for column in columns:
                if column in record:
                    record[column] = TOMBSTONE if isinstance(record[column], str) else None
            count += 1
    return count


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
