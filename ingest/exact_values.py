"""Values in a landed file that raw's types would change stay the text that landed.

Raw holds what landed. A reader that types a CSV column by its values would turn `00123` into 123 (a
postcode, an account number), `+33612345678` into 33612345678.0 (a phone number), `12345678901234567890`
(beyond a 64-bit integer) into 1.2345678901234567e19 and `0.1234567890123456789` (more digits than a
double holds) into 0.12345678901234568, and nothing would say so. So a column whose values would change
so is kept as text: leading zeros and plus signs as DuckDB's own CSV reader keeps them, and numbers that
a double would round with a note naming the file, column and line, so that staging casts them to a
DECIMAL. A JSON number that a 64-bit integer or double cannot hold is kept as its text likewise (dlt
cannot write an integer beyond 64 bits at all). A timestamp finer than a microsecond (raw's precision, and
the lake's Parquet writer refuses to drop the rest) keeps its column as text too, with a note, and so does a
Parquet decimal of more than 38 digits (DuckDB's widest; it would read the column back as wrong doubles).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INT64 = (-(2**63), 2**63 - 1)
MAX_DECIMAL_DIGITS = 38  # DuckDB's widest DECIMAL
ASCII = b'0123456789+.,;:|\t\n\r" '
LONG = 16  # digits from which a decimal text may not survive a double (15 always do)
# a number of LONG or more digits, one decimal point among them
LONG_NUMBER = rf"[0-9](?:\.?[0-9]){{{LONG - 1}}}"
# as DuckDB's CSV reader: a number with a leading zero (not 0 itself, not 0.5) or a plus sign is text
KEPT_AS_TEXT = r"^(?:0[0-9]|\+)"


def may_change(data: bytes, delimiter: str, encoding: str) -> bool:
    """Whether a CSV file may hold a number its reader would change: a field that starts with a zero and a
    digit or with a plus sign, or LONG digits in a row. False means surely none (one regular expression over
    the bytes, about 5% of the parse)."""
    if not delimiter.isascii() or ASCII.decode().encode(encoding, errors="replace") != ASCII:
        return True  # not an ASCII-compatible encoding: the bytes cannot be searched as they are
    field_start = rf'(?:^|[\x{ord(delimiter):02x}\n\r"])'
    pattern = f"{field_start}(?:0[0-9]|\\+)|{LONG_NUMBER}"
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64).tobytes())
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])  # the bytes, not copied
    return pc.any(pc.match_substring_regex(whole, pattern)).as_py()


def keep_exact(table: pa.Table, text_of: Callable[[list[str]], pa.Table], lines: list[int] | None) -> tuple[pa.Table, list[str]]:
    """`table` with each number column whose values its type changed replaced by the column as text, and a note
    for each column whose numbers a double would round. `text_of(columns)`: those columns of the file as text."""
    numbers = [f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    if not numbers:
        return table, []
    texts = text_of(numbers)
    notes = []
    for name in numbers:
        text = texts[name]
        if pc.any(pc.match_substring_regex(text, KEPT_AS_TEXT)).as_py():
            table = table.set_column(table.column_names.index(name), name, text)
            continue
        if not pa.types.is_floating(table.schema.field(name).type):
            continue
        row = _first_rounded(text)
        if row is not None:
            table = table.set_column(table.column_names.index(name), name, text)
            at = f", the first at line {lines[row]}" if lines else ""
            notes.append(
                f"column {name!r} holds numbers that a 64-bit float would round{at}: kept as text, as it landed "
                "(cast it to a DECIMAL in staging)"
            )
    return table, notes


def _first_rounded(text: pa.ChunkedArray) -> int | None:
    """The row of the first number in `text` that a double does not hold exactly, if any."""
    long = pc.fill_null(pc.match_substring_regex(text, LONG_NUMBER), False)
    rows = pc.indices_nonzero(long).to_pylist()
    return next((row for row, value in zip(rows, pc.filter(text, long).to_pylist(), strict=True) if not _survives(value)), None)


def _survives(text: str) -> bool:
    """Whether a double read from `text` is the number `text` says (its shortest form names the same number)."""
    value = float(text)
    if not math.isfinite(value):
        return True  # infinite: the table's `non_finite` says what happens to it
    try:
        return Decimal(repr(value)) == Decimal(text.strip())
    except InvalidOperation:
        return True


_LONG_IN_LINE = re.compile(LONG_NUMBER.encode())


def loads_exact(raw: bytes, encoding: str):
    """A JSON line's value, with a number that a 64-bit integer or double would change kept as its text."""
    text = raw.decode(encoding)
    if not _LONG_IN_LINE.search(raw):
        return json.loads(text)  # no number long enough to change
    return json.loads(text, parse_int=_exact_int, parse_float=_exact_float)


def _exact_int(text: str) -> int | str:
    value = int(text)
    return value if INT64[0] <= value <= INT64[1] else text


def _exact_float(text: str) -> float | str:
    return float(text) if _survives(text) else text


def exact_bigint(value: int | str) -> int:
    """The 64-bit integer a JSON value says, exactly; ValueError if it says none."""
    if isinstance(value, str) and re.match(KEPT_AS_TEXT, value.strip()):
        raise ValueError("a leading zero or plus sign")
    number = int(value)
    if not INT64[0] <= number <= INT64[1]:
        raise ValueError("beyond a 64-bit integer")
    return number


def exact_double(text: str) -> float:
    """The double a text says, exactly; ValueError if it says another number or none."""
    if re.match(KEPT_AS_TEXT, text.strip()) or not _survives(text):
        raise ValueError("a leading zero or plus sign, or digits a double would round")
    return float(text)


def changes_text(values: pa.Array, target: pa.DataType) -> pa.Array | None:
    """Of text values that cast to a number type `target`: which ones the cast would change (True), as
    `keep_exact` tells them; None when none would (or `target` is not a number type)."""
    if not (pa.types.is_integer(target) or pa.types.is_floating(target)):
        return None
    changed = pc.fill_null(pc.match_substring_regex(values, KEPT_AS_TEXT), False)
    if pa.types.is_floating(target):
        long = pc.fill_null(pc.match_substring_regex(values, LONG_NUMBER), False)
        rounded = np.zeros(len(values), bool)
        for row, value in zip(pc.indices_nonzero(long).to_pylist(), pc.filter(values, long).to_pylist(), strict=True):
            rounded[row] = not _survives(value)
        changed = pc.or_(changed, pa.array(rounded))
    return changed if pc.any(changed).as_py() else None


def fine_timestamps(batches: list, lines: list[list[int] | None]) -> tuple[list, list[str]]:
    """A file's Arrow batches with each nanosecond timestamp column in microseconds, or as text (ISO 8601) in every
    batch when one of its values is finer than a microsecond; a note for each such column."""
    tables = [rows for rows in batches if isinstance(rows, pa.Table)]
    columns = {f.name for rows in tables for f in rows.schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"}
    notes = []
    for name in sorted(columns):
        first = next(
            (
                f", the first at line {part_lines[row]}" if part_lines else ""
                for rows, part_lines in zip(batches, lines, strict=True)
                if isinstance(rows, pa.Table) and name in rows.column_names
                for row in _finer_than_micros(rows[name])
            ),
            None,
        )
        if first is not None:
            notes.append(f"column {name!r} holds timestamps finer than a microsecond{first}: kept as text, as it landed")
        batches = [_retyped(rows, name, first is None) for rows in batches]
    return batches, notes


def wide_decimals(batches: list) -> tuple[list, list[str]]:
    """A file's Arrow batches with each decimal column wider than DuckDB's DECIMAL as text, in every batch; a note
    for each. DuckDB reads a wider Parquet decimal back as doubles that are not the values written."""
    tables = [rows for rows in batches if isinstance(rows, pa.Table)]
    wide = {
        f.name: f.type.precision
        for rows in tables
        for f in rows.schema
        if pa.types.is_decimal(f.type) and f.type.precision > MAX_DECIMAL_DIGITS
    }
    for name in wide:
        batches = [
            rows.set_column(rows.column_names.index(name), name, pc.cast(rows[name], pa.string()))
            if isinstance(rows, pa.Table) and name in rows.column_names
            else rows
            for rows in batches
        ]
    notes = [
        f"column {name!r} holds decimals of {digits} digits, more than raw's {MAX_DECIMAL_DIGITS}: kept as text, as it landed"
        for name, digits in sorted(wide.items())
    ]
    return batches, notes


def _finer_than_micros(values: pa.ChunkedArray) -> list[int]:
    """The row of the first value that a cast to microseconds would change, if any (at most one)."""
    try:
        pc.cast(values, pa.timestamp("us", values.type.tz), safe=True)
        return []
    except pa.ArrowInvalid:
        nanos = pc.fill_null(pc.cast(pc.cast(values, pa.timestamp("ns")), pa.int64()), 0).to_numpy()
        return [int(np.flatnonzero(nanos % 1000 != 0)[0])]


def _retyped(rows, name: str, in_micros: bool):
    if not isinstance(rows, pa.Table) or name not in rows.column_names:
        return rows
    values = rows[name]
    if in_micros:
        target = pc.cast(values, pa.timestamp("us", values.type.tz))
    else:
        target = pc.strftime(values, "%Y-%m-%dT%H:%M:%S" + ("%z" if values.type.tz else ""))
    return rows.set_column(rows.column_names.index(name), name, target)
