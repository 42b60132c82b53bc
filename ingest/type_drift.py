"""Type drift in file drops: values whose type differs from what the table's column already holds.

dlt makes variant columns for rows it normalises itself (JSON), but writes Arrow tables (CSV,
Parquet) as they come: one text value in a numeric column would make that file's column text,
and readers of the raw layer would then see the column as text in every load. So each batch is
checked here against the column types already in the lake (and those of earlier files of the
same run), following the table's `on_type_drift`. JSON rows are checked value by value; under
`variant` dlt itself puts a value that does not fit into the variant column.

- `variant` (default): the values that fit keep the column's type; the others go to
  `<column>__v_<type>` (e.g. `amount__v_text`), the name dlt gives its variant columns.
- `refuse`: the file is rejected, naming the column, both types and the first value.
- `coerce`: rows whose value does not fit are quarantined (check `type_drift`); the rest are cast.

Earlier loads are never rewritten: every file keeps the column's type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from ingest.contracts import text_columns
from ingest.exact_values import changes_text, exact_bigint, exact_double
from ingest.file_readers import FileRefused

Policy = Literal["variant", "refuse", "coerce"]

# dlt's data types whose Arrow type a drifted value can be checked against
ARROW_OF = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}


def arrow_of(kind: str) -> pa.DataType | None:
    """The Arrow type of a column of dlt type `kind` (`decimal(38,18)` with its precision and scale), None if unknown."""
    if kind.startswith("decimal("):
        precision, _, scale = kind.removeprefix("decimal(").removesuffix(")").partition(",")
        return (pa.decimal128 if int(precision) <= 38 else pa.decimal256)(int(precision), int(scale))
    return ARROW_OF.get(kind)


def dlt_type(arrow_type: pa.DataType) -> str | None:
    """The dlt data type of an Arrow type, a decimal's with its precision and scale (`decimal(38,18)`); None for
    the types dlt holds otherwise."""
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_nested(arrow_type):
        return "json"
    return None


@dataclass
class Drift:
    """What one batch held against one column's type."""

    column: str
    known: str
    found: str
    values: int
    line: int | None  # the first one's

    def describe(self, where: str) -> str:
        """What drifted and where; the values stay in the quarantine (coerce), never in a message."""
        at = f", the first at line {self.line}" if self.line is not None else ""
        return f"{where}: column {self.column!r} is {self.known}, got {self.values:,} {self.found} value(s){at}"


@dataclass
class Drifted:
    """A batch after the policy: its rows (an Arrow table, or JSON rows), the rows set aside (coerce) and what drifted."""

    rows: Any
    quarantined: pa.Table | None
    drifts: list[Drift]


def apply_policy(table: pa.Table, known: dict[str, str], policy: Policy, lines: list[int] | None, source_file: str) -> Drifted:
    """Hold `table` to the column types in `known` (column -> dlt type) as `policy` says."""
    drifts: list[Drift] = []
    original = table
    unfit: dict[int, list[dict]] = {}  # row -> its failures (coerce)
    for name in table.column_names:
        target = arrow_of(known.get(name, ""))
        if target is None or table.schema.field(name).type == target:
            continue
        values = table[name].combine_chunks()
        fits = _fits(values, target)
        if fits is None:  # every value fits: the column takes the table's type
            table = table.set_column(table.column_names.index(name), name, _cast(values, target))
            continue
        flags = fits.to_pylist()
        first = flags.index(False)
        drift = Drift(
            name,
            known[name],
            (dlt_type(values.type) or "text").partition("(")[0],  # a variant's name, as dlt names it: amount__v_decimal
            flags.count(False),
            lines[first] if lines else None,
        )
        drifts.append(drift)
        if policy == "refuse":
            raise _refused(drift)
        kept = _cast(pc.if_else(fits, values, pa.nulls(len(values), values.type)), target)
        table = table.set_column(table.column_names.index(name), name, kept)
        if policy == "variant":
            variant = f"{name}__v_{drift.found}"
            table = table.append_column(variant, pc.if_else(fits, pa.nulls(len(values), values.type), values))
        else:
            for index, ok in enumerate(flags):
                if not ok:
                    unfit.setdefault(index, []).append(
                        {"check": f"type_drift({drift.known})", "column": name, "value": _text(values[index].as_py())}
                    )
    if not unfit:
        return Drifted(table, None, drifts)
    keep = pa.array([index not in unfit for index in range(table.num_rows)])
    return Drifted(table.filter(keep), _set_aside(original, unfit, lines, source_file), drifts)


def apply_policy_to_rows(rows: list[dict], known: dict[str, str], policy: Policy, lines: list[int] | None, source_file: str) -> Drifted:
    """The same for JSON rows (dicts); under `variant` they go on as they are, for dlt to make the variant (but see
    `numbers_kept_exact`)."""
    unfit: dict[int, list[dict]] = {}
    drifts: dict[str, Drift] = {}
    for index, row in enumerate(rows):
        for name, value in row.items():
            kind = known.get(name)
            if value is None or type(value) in PLAIN_FITS.get(kind or "", ()) or kind not in ARROW_OF or _value_fits(value, kind):
                continue
            found = _value_type(value)
            drift = drifts.setdefault(name, Drift(name, kind, found, 0, lines[index] if lines else None))
            drift.values += 1
            unfit.setdefault(index, []).append({"check": f"type_drift({kind})", "column": name, "value": _text(value)})
    if drifts and policy == "refuse":
        raise _refused(next(iter(drifts.values())))
    if policy != "coerce" or not unfit:
        return Drifted(rows, None, list(drifts.values()))
    kept = [row for index, row in enumerate(rows) if index not in unfit]
    set_aside = [rows[i] for i in sorted(unfit)]
    names = list(dict.fromkeys(name for row in set_aside for name in row))
    as_text = pa.table({name: pa.array([_json_text(row.get(name)) for row in set_aside], pa.string()) for name in names})
    positions = sorted(unfit)
    quarantined = _set_aside(
        as_text, {n: unfit[i] for n, i in enumerate(positions)}, [lines[i] for i in positions] if lines else None, source_file
    )
    return Drifted(kept, quarantined, list(drifts.values()))


def numbers_kept_exact(rows: list[dict], kinds: dict[str, str], keys: tuple[str, ...]) -> list[dict]:
    """JSON rows with each text that dlt would cast to its number column, though the number would change (`0012`,
    `12345678901234567890`), moved to the column's variant `<column>__v_text`, named as dlt names its variants.
    kinds: column -> dlt type (loaded, or of the batch's first value, as dlt types a new column); a key column's
    text stays, for the key check to set its row aside."""
    numbers = [name for name, kind in kinds.items() if kind in ("bigint", "double") and name not in keys]
    for row in rows:
        for name in numbers:
            value = row.get(name)
            if _coerced(value, kinds[name]) and not _value_fits(value, kinds[name]):
                row[f"{name}__v_text"] = row.pop(name)
    return rows


def _coerced(value, kind: str) -> bool:
    """Whether dlt would cast a text that does not fit a number column to a number anyway (a changed one)."""
    if not isinstance(value, str) or kind not in ("bigint", "double"):
        return False
    try:
        int(value) if kind == "bigint" else float(value)
        return True
    except ValueError:
        return False


def _refused(drift: Drift) -> FileRefused:
    return FileRefused(
        drift.describe("type drift")
        + "; the table's on_type_drift is refuse. Fix the file and replay it, or set on_type_drift to variant or coerce"
    )


# JSON values that fit a column of a dlt type as they are (the common case, checked first)
PLAIN_FITS = {"bigint": (int,), "double": (float, int), "bool": (bool,), "text": (str,), "timestamp": (str,), "date": (str,)}


def _value_fits(value, kind: str) -> bool:
    """Whether dlt can hold a JSON value in a column of `kind` as the value it is (as it coerces: "12" fits a
    bigint, "0012" and "12345678901234567890" do not)."""
    if value is None:
        return True
    if isinstance(value, (dict, list)):
        return False
    if kind in ("bigint", "double") and isinstance(value, bool):
        return False
    converters: dict[str, Callable[[Any], object]] = {
        "bigint": lambda v: float(v).is_integer() if isinstance(v, float) else exact_bigint(v),
        "double": lambda v: exact_double(v) if isinstance(v, str) else float(v),
        "bool": _as_bool,
    }
    if kind in converters:
        try:
            return converters[kind](value) is not False
        except (TypeError, ValueError):
            return False
    return isinstance(value, str) or isinstance(value, (int, float)) and not isinstance(value, bool)  # timestamps, dates


def _as_bool(value) -> bool:
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false")):
        return True
    raise ValueError(value)


def batch_types(rows: Any) -> dict[str, str]:
    """column -> dlt type of a batch: of each Arrow column, or of the first value of each JSON key (as dlt infers it)."""
    if isinstance(rows, pa.Table):
        return {f.name: kind for f in rows.schema if not pa.types.is_null(f.type) and (kind := dlt_type(f.type)) is not None}
    found: dict[str, str] = {}
    for row in rows:
        for name, value in row.items():
            if value is not None and name not in found:
                found[name] = _value_type(value)
    return found


def _json_text(value) -> str | None:
    if value is None:
        return None
    return json.dumps(value) if isinstance(value, (dict, list)) else _text(value)


def _value_type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "bigint", float: "double", str: "text"}.get(type(value), "json")


def _fits(values: pa.Array, target: pa.DataType) -> pa.Array | None:
    """Which values cast to `target` (nulls do) as the number they say (`00123` does not fit a bigint, as it
    would lose its zeros); None when all of them do."""
    changed = _changed_by_cast(values, target)
    try:
        _cast(values, target)
        return None if changed is None else pc.invert(changed)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    fits = []
    for index in range(len(values)):
        try:
            _cast(values.slice(index, 1), target)
            fits.append(True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            fits.append(False)
    return pa.array(fits) if changed is None else pc.and_(pa.array(fits), pc.invert(changed))


def _cast(values: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(target) and target.tz is not None and not (pa.types.is_timestamp(values.type) and values.type.tz):
        values = pc.cast(values, pa.timestamp(target.unit))  # naive values are UTC, as dlt stores them
    if pa.types.is_decimal(target) and pa.types.is_floating(values.type):
        values = pc.cast(values, pa.string())  # the number a double's shortest form says (0.1, not 0.1000000000000000055)
    return pc.cast(values, target)


def _changed_by_cast(values: pa.Array, target: pa.DataType) -> pa.Array | None:
    """Which values a cast to `target` would change although it succeeds (True): a text's leading zeros, a decimal
    that a double rounds, a number other than 0 or 1 as a bool, a timestamp's time of day as a date; None when none."""
    kind = values.type
    if pa.types.is_string(kind):
        return changes_text(values, target)
    if pa.types.is_decimal(kind) and pa.types.is_floating(target):
        changed = pa.array([value is not None and Decimal(repr(float(value))) != value for value in values.to_pylist()])
    elif pa.types.is_boolean(target) and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        changed = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array([0, 1], kind))))
    elif pa.types.is_date(target) and pa.types.is_timestamp(kind):
        changed = pc.not_equal(pc.cast(pc.cast(values, target), kind), values)
    else:
        return None
    changed = pc.fill_null(changed, False)
    return changed if pc.any(changed).as_py() else None


def _set_aside(original: pa.Table, unfit: dict[int, list[dict]], lines: list[int] | None, source_file: str) -> pa.Table:
    """The rows the cast could not take, every value as text as it came, with why and where."""
    positions = sorted(unfit)
    rows = text_columns(original.take(pa.array(positions)))
    first = [unfit[p][0] for p in positions]
    extra = {
        "_check": [f["check"] for f in first],
        "_column": [f["column"] for f in first],
        "_failure": [f["value"] for f in first],
        "_failures": [json.dumps(unfit[p]) for p in positions],
        "_source_file": [source_file] * len(positions),
    }
    for name, values in extra.items():
        rows = rows.append_column(name, pa.array(values, pa.string()))
    return rows.append_column("_line", pa.array([lines[p] for p in positions] if lines else [None] * len(positions), pa.int64()))


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)
