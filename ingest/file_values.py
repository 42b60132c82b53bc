"""Numbers that are not finite in a landed file or a SQL table's rows (inf, -inf, NaN; `-1e309` overflows to
-inf): under the table's `non_finite: quarantine` (the default) their rows go to quarantine, naming the column."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc

from ingest.contracts import text_columns
from ingest.file_keys import KeyCheck, quarantine_rows

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
