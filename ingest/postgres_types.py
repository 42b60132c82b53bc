"""Which PostgreSQL columns reach raw as text, so that no value is changed or stops the load on the way.

dlt's pyarrow backend holds a NUMERIC in Arrow's decimal128 (38 digits, 9 decimals when the column
declares no precision): a wider value stops the load, and a NUMERIC(50,10) lands as a decimal256 that
DuckDB reads back as wrong doubles. A time with a time zone loses its offset, and types Arrow has no
place for (inet, cidr, interval, ranges, money, unknown extension types) stop the load. PostgreSQL
casts each of these to its own text form in the query, which keeps every value exactly as the source
writes it; staging casts it to the type it needs. The cursor column is read as it is, since its
values are compared as the source orders them. A date, timestamp or NUMERIC of `infinity` or `NaN` has no
Arrow value either: a table whose load failed on one is read again with such values, as text, in the
column's `__v_text` variant (the column NULL in that row).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, Column, Select, Table, Text, case, cast, func, not_, null
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.sql import sqltypes

from ingest.exact_values import MAX_DECIMAL_DIGITS
from ingest.file_keys import VARIANT

_AS_TEXT = "duckstack_as_text"
_SOURCE_TYPE = "duckstack_source_type"
_SPLIT = "duckstack_split"

_READ_AS_IS = (
    sqltypes.Integer,
    sqltypes.String,
    sqltypes._Binary,
    sqltypes.DateTime,
    sqltypes.Date,
    sqltypes.JSON,
    sqltypes.Boolean,
)


def kept_as_text(sql_type: Any) -> bool:
    """True when a column of this reflected type is read as its text form."""
    if isinstance(sql_type, sqltypes.Numeric):
        if sql_type.asdecimal is False:  # REAL and DOUBLE PRECISION read as doubles
            return False
        return sql_type.precision is None or sql_type.precision > MAX_DECIMAL_DIGITS
    if isinstance(sql_type, sqltypes.Time):
        return bool(sql_type.timezone)
    if isinstance(sql_type, sqltypes.ARRAY):
        return kept_as_text(sql_type.item_type)
    if isinstance(sql_type, sqltypes.Uuid):
        return True  # dlt keeps a uuid as its text; the cast does it in the database
    return not isinstance(sql_type, _READ_AS_IS)


def read_as_text(table: Table, cursor: str | None, split: bool = False) -> None:
    """dlt's table adapter: mark the columns read as text (all but the cursor) and declare them text.

    split: also mark the date, timestamp and NUMERIC columns (all but the cursor) whose values that Arrow cannot
    hold (`infinity`, `NaN`) are read into the column's `__v_text` variant, the column NULL in that row: a
    table whose load failed on such a value is read so.
    """
    for column in table.c:
        if column.name == cursor:
            continue
        if kept_as_text(column.type):
            column.info[_AS_TEXT] = True
            column.info[_SOURCE_TYPE] = column.type
            column.type = Text()
        elif split and isinstance(column.type, (sqltypes.Date, sqltypes.DateTime, sqltypes.Numeric)):
            column.info[_SPLIT] = True


def exact_select(query: Select, table: Table) -> Select:
    """dlt's query adapter: the same query, with the marked columns cast to text by the database."""
    return query.with_only_columns(*exact_columns(table.c), maintain_column_froms=True)


def exact_columns(columns: Iterable[Column]) -> list:
    """The select list of `columns`: those marked by `read_as_text` cast to their text form; of those marked to be
    split, the value where it is finite, and its variant."""
    selected: list = []
    for column in columns:
        if column.info.get(_AS_TEXT):
            selected.append(_text_form(column).label(column.name))
        elif column.info.get(_SPLIT):
            infinite = _not_finite(column)
            selected.append(case((infinite, null()), else_=column).label(column.name))
            selected.append(case((infinite, cast(column, Text)), else_=null()).label(column.name + VARIANT + "text"))
        else:
            selected.append(column)
    return selected


def _not_finite(column: Column):
    if isinstance(column.type, sqltypes.Numeric):
        return cast(column, Text).in_(("NaN", "Infinity", "-Infinity"))
    return not_(func.isfinite(column, type_=Boolean))


def _text_form(column: Column):
    """What PostgreSQL's output function writes; an inet's cast to text would add its netmask (`/32`)."""
    if isinstance(column.info.get(_SOURCE_TYPE), INET):
        return func.abbrev(column)
    return cast(column, Text)
