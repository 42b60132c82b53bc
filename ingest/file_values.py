"""Rows set aside by value before the contract: numbers that are not finite in a landed file or a SQL table's
rows (inf, -inf, NaN; `-1e309` overflows to -inf), under the table's `non_finite: quarantine` (the default), and a
SQL table's or an API's rows without their key. Each goes to quarantine naming the column."""

from __future__ import annotations

import hashlib
import json
import math

import pyarrow as pa
import pyarrow.compute as pc

from ingest.contracts import text_columns, text_rows
from ingest.file_keys import (
    DUPLICATE_KEY,
    KEY_MISSING,
    KEY_TYPE,
    VARIANT,
    KeyCheck,
    quarantine_rows,
    variant_at,
    without_empty_key_variants,
)
from ingest.file_readers import raw_names
from ingest.sql_ties import SharedKeys

NON_FINITE = "non_finite"


def split_non_finite(rows: pa.Table | list[dict], lines: list[int] | None, relative: str | None) -> KeyCheck:
    """Set aside the rows holding a number that is not finite, with the first such column; `relative`: the
    file they came from (None for a SQL table)."""
    if isinstance(rows, list):
        bad = [i for i, row in enumerate(rows) if _first_non_finite(row) is not None]
        if not bad:
            return KeyCheck(rows, lines, None)
        dropped = set(bad)
        picked = text_rows([rows[i] for i in bad])
        checks: list[tuple[str, str, str | None]] = [(NON_FINITE, str(_first_non_finite(rows[i])), "not a finite number") for i in bad]
        kept = [row for i, row in enumerate(rows) if i not in dropped]
        kept_lines = None if lines is None else [n for i, n in enumerate(lines) if i not in dropped]
        return KeyCheck(kept, kept_lines, quarantine_rows(picked, checks, bad, lines, relative))
    columns = [name for name, kind in zip(rows.column_names, rows.schema.types, strict=True) if pa.types.is_floating(kind)]
    flags = {name: pc.fill_null(pc.invert(pc.is_finite(rows[name])), False) for name in columns}
    flagged = [name for name in columns if pc.any(flags[name]).as_py()]
    if not flagged:
        return KeyCheck(rows, lines, None)
    mask = flags[flagged[0]]
    for name in flagged[1:]:
        mask = pc.or_(mask, flags[name])
    positions = pc.indices_nonzero(mask).to_pylist()
    checks = [(NON_FINITE, next(n for n in flagged if flags[n][p].as_py()), "not a finite number") for p in positions]
    quarantined = quarantine_rows(text_columns(rows.take(pa.array(positions))), checks, positions, lines, relative)
    bad_rows = set(positions)
    kept_lines = None if lines is None else [n for i, n in enumerate(lines) if i not in bad_rows]
    return KeyCheck(rows.filter(pc.invert(mask)), kept_lines, quarantined)


def _first_non_finite(row: dict) -> str | None:
    return next((k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)), None)


def split_unusable_keys(
    rows: pa.Table | list[dict],
    keys: list[str],
    cursor: str | None,
    *,
    unique: bool = False,
    shared: SharedKeys | None = None,
    earlier: dict[bytes, bytes] | None = None,
) -> KeyCheck:
    """Set aside a SQL table's or an API's rows whose key staging could not use: with no value in (part of) it
    (`key_missing`, naming the column), or sharing it and the `cursor` value (the key alone when there is no
    cursor) with another row of the batch that differs (`duplicate_key`: which of them is current is unknown,
    and staging would keep either). `keys` and `cursor` are named as the batch names them (`ID`), or as raw
    does (`id`, `order_id` for `orderId`). unique: the database keeps the key unique, so no rows share it.
    shared: such values that the database found over the whole read, so that rows in other batches count too.
    earlier: of an API's records, what the earlier pages of the load held per key and cursor value (updated here):
    a record that differs from the one an earlier page loaded is set aside too (that one stays loaded)."""
    names = rows.column_names if isinstance(rows, pa.Table) else list(rows[0]) if rows else []
    spelled = dict(zip(raw_names(names), names, strict=True)) | {name: name for name in names}
    present = [(key, spelled[key]) for key in keys if key in spelled]
    if isinstance(rows, list):
        missing = {
            i: (KEY_MISSING, next(key for key, name in present if row.get(name) is None), None)
            for i, row in enumerate(rows)
            if any(row.get(name) is None for _, name in present)
        }
        reasons: dict[int, tuple[str, str, str | None]] = dict(missing)
        # a cursor that is no field of the rows (a nested path) cannot tell versions apart: none are compared
        if len(present) == len(keys) and not unique and (cursor is None or cursor in spelled):
            by = [name for _, name in present] + ([spelled[cursor]] if cursor is not None else [])
            why = _tie_reason(cursor is not None)
            for position in _row_ties(rows, by, set(missing)):
                reasons[position] = (DUPLICATE_KEY, ",".join(keys), why)
            if earlier is not None:
                why = "a record of this key and cursor value on an earlier page differs (that one loaded)"
                for position in _page_ties(rows, by, set(reasons), earlier):
                    reasons[position] = (DUPLICATE_KEY, ",".join(keys), why)
        if not reasons:
            return KeyCheck(rows, None, None)
        bad = sorted(reasons)
        picked = text_rows([rows[i] for i in bad])
        kept = [row for i, row in enumerate(rows) if i not in reasons]
        return KeyCheck(kept, None, quarantine_rows(picked, [reasons[i] for i in bad], bad, None, None))
    nulls = {key: pc.is_null(rows[name]) for key, name in present if rows[name].null_count}
    masks = list(nulls.values())
    mask = masks[0] if masks else None
    for missing in masks[1:]:
        mask = pc.or_(mask, missing)
    found = [] if mask is None else pc.indices_nonzero(mask).to_pylist()
    reasons = {p: _no_key(rows, {key: spelled[key] for key in nulls if nulls[key][p].as_py()}, p) for p in found}
    if len(present) == len(keys) and not unique:
        by = [name for _, name in present] + ([spelled[cursor]] if cursor in spelled else [])
        why = _tie_reason(cursor in spelled)
        tied = set(_ties(rows, by, mask))
        across = shared.mask(rows) if shared is not None else None
        if across is not None:
            across = across if mask is None else pc.and_(across, pc.invert(mask))
            tied.update(pc.indices_nonzero(across).to_pylist())
        for position in tied:
            reasons[position] = (DUPLICATE_KEY, ",".join(keys), why)
    if not reasons:
        return KeyCheck(rows, None, None)
    positions = sorted(reasons)
    quarantined = quarantine_rows(text_columns(rows.take(pa.array(positions))), [reasons[p] for p in positions], positions, None, None)
    keep = pc.invert(pc.is_in(pa.array(range(rows.num_rows)), value_set=pa.array(positions)))
    return KeyCheck(without_empty_key_variants(rows.filter(keep), [name for _, name in present]), None, quarantined)


def _no_key(rows: pa.Table, empty: dict[str, str], position: int) -> tuple[str, str, str | None]:
    """Why a row with no value in the key columns `empty` (raw name -> the batch's) is set aside: `key_type` when
    the value is in the column's variant (a SQLite value of another type than its column's), else `key_missing`."""
    variants = {key: variant_at(rows, name, position) for key, name in empty.items()}
    missing = next((key for key in empty if variants[key] is None), None)
    if missing is not None:
        return (KEY_MISSING, missing, None)
    key = next(iter(empty))
    kind = str(variants[key]).removeprefix(empty[key] + VARIANT)
    return (KEY_TYPE, key, f"a {kind} value in a key column loaded as another type")


def _tie_reason(by_cursor: bool) -> str:
    return "another row of this key has the same cursor value" if by_cursor else "another row of this key differs (no cursor)"


def _page_ties(rows: list[dict], by: list[str], left_out: set[int], earlier: dict[bytes, bytes]) -> list[int]:
    """Positions of the JSON rows (not `left_out`) that differ from the row of their `by` values an earlier page
    loaded; the others are noted in `earlier` (16-byte digests of the `by` values and of the row)."""
    digest = lambda value: hashlib.blake2b(json.dumps(value, sort_keys=True, default=str).encode(), digest_size=16).digest()
    tied = []
    for i, row in enumerate(rows):
        if i in left_out:
            continue
        held = earlier.setdefault(digest([row.get(name) for name in by]), digest(row))
        if held != digest(row):
            tied.append(i)
    return tied


def _row_ties(rows: list[dict], by: list[str], left_out: set[int]) -> list[int]:
    """Positions of the JSON rows (not `left_out`) that share the `by` fields' values with another row that differs."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if i not in left_out:
            groups.setdefault(json.dumps([row.get(name) for name in by], default=str), []).append(i)
    return [i for members in groups.values() if any(rows[m] != rows[members[0]] for m in members[1:]) for i in members]


def _ties(rows: pa.Table, by: list[str], left_out: pa.Array | None) -> list[int]:
    """Positions of the rows (not `left_out`) that share the `by` columns' values with another row that differs."""
    if len(pc.unique(rows[by[0]])) == rows.num_rows:
        return []  # rows that tie share the first key column's value
    indexed = rows.select(by).append_column("_row", pa.array(range(rows.num_rows), pa.int64()))
    indexed = indexed if left_out is None else indexed.filter(pc.invert(left_out))
    if indexed.select(by).group_by(by, use_threads=False).aggregate([]).num_rows == indexed.num_rows:
        return []
    groups = indexed.group_by(by, use_threads=False).aggregate([("_row", "list")])
    shared = groups.filter(pc.greater(pc.list_value_length(groups["_row_list"]), 1))["_row_list"].to_pylist()
    tied = []
    for members in shared:
        versions = rows.take(pa.array(members)).to_pylist()
        if any(version != versions[0] for version in versions[1:]):
            tied += members
    return tied
