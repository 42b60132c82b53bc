"""Rows set aside by value before the contract: numbers that are not finite in a landed file or a SQL table's
rows (inf, -inf, NaN; `-1e309` overflows to -inf), under the table's `non_finite: quarantine` (the default), and a
SQL table's or an API's rows without their key. Each goes to quarantine naming the column."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc

from ingest.contracts import text_columns
from ingest.file_keys import KEY_MISSING, KeyCheck, quarantine_rows
from ingest.file_readers import raw_names

NON_FINITE = "non_finite"


def split_non_finite(rows: pa.Table | list[dict], lines: list[int] | None, relative: str | None) -> KeyCheck:
    """Set aside the rows holding a number that is not finite, with the first such column; `relative`: the
    file they came from (None for a SQL table)."""
    if isinstance(rows, list):
        bad = [i for i, row in enumerate(rows) if _first_non_finite(row) is not None]
        if not bad:
            return KeyCheck(rows, lines, None)
        dropped = set(bad)
        picked = pa.Table.from_pylist([{k: None if v is None else str(v) for k, v in rows[i].items()} for i in bad])
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


def split_null_keys(rows: pa.Table | list[dict], keys: list[str]) -> KeyCheck:
    """Set aside a SQL table's or an API's rows with no value in (part of) their key, as `key_missing` naming the
    column: a row raw cannot tell apart from others of a NULL key would otherwise be merged with them in staging.
    `keys` are raw's names; a batch's own spelling of them (`ID`, `orderId`) is matched the way dlt names it."""
    names = rows.column_names if isinstance(rows, pa.Table) else list(rows[0]) if rows else []
    spelled = dict(zip(raw_names(names), names, strict=True))
    present = [(key, spelled[key]) for key in keys if key in spelled]
    if isinstance(rows, list):
        bad = [i for i, row in enumerate(rows) if any(row.get(name) is None for _, name in present)]
        if not bad:
            return KeyCheck(rows, None, None)
        checks: list[tuple[str, str, str | None]] = [
            (KEY_MISSING, next(key for key, name in present if rows[i].get(name) is None), None) for i in bad
        ]
        picked = pa.Table.from_pylist([{k: None if v is None else str(v) for k, v in rows[i].items()} for i in bad])
        dropped = set(bad)
        return KeyCheck([row for i, row in enumerate(rows) if i not in dropped], None, quarantine_rows(picked, checks, bad, None, None))
    nulls = {key: pc.is_null(rows[name]) for key, name in present if rows[name].null_count}
    if not nulls:
        return KeyCheck(rows, None, None)
    masks = list(nulls.values())
    mask = masks[0]
    for other in masks[1:]:
        mask = pc.or_(mask, other)
    positions = pc.indices_nonzero(mask).to_pylist()
    checks = [(KEY_MISSING, next(key for key in nulls if nulls[key][p].as_py()), None) for p in positions]
    quarantined = quarantine_rows(text_columns(rows.take(pa.array(positions))), checks, positions, None, None)
    return KeyCheck(rows.filter(pc.invert(mask)), None, quarantined)
