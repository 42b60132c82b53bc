"""Rows of a SQL table that share their key and cursor value with another row that differs, across the whole read.

A table whose key the database does not keep unique may hold two versions of a key with the same cursor
value (the key alone, without a cursor). Staging would keep either: which one is current is unknown. The
rows are read in chunks, and the check of each batch (ingest/file_values.py) sees only its own rows, so two
such rows in different chunks would both load. Before its first batch, the table's reader asks the database
for those keys over exactly the rows it is about to read, in the snapshot it reads them in (`SharedKeys`);
every row of them goes to quarantine as `duplicate_key`, in whichever batch it comes. Identical copies of a
row are not ambiguous and load.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ingest.sqlite_candidates import quoted

_SEPARATOR = "\x1f"
_NULL = "\x00"


@dataclass
class SharedKeys:
    """The key (and cursor) values that more than one differing row of one read holds; set by the table's reader
    before its first batch. `columns`: the key columns, then the cursor, as raw names them."""

    columns: list[str]
    values: pa.Table | None = None
    _wanted: tuple[tuple, pa.Array] | None = None  # `values` as texts, for the batch types they were cast to

    def found(self, values: pa.Table) -> None:
        """Take the database's answer, its columns in the order of `columns` (as the database names them)."""
        self.values = values.rename_columns(self.columns) if values.num_rows else None
        self._wanted = None

    def mask(self, batch: pa.Table) -> pa.Array | None:
        """Which of the batch's rows hold such a value (None: none can); the batch's columns as raw names them."""
        if self.values is None or not all(column in batch.column_names for column in self.columns):
            return None
        types = {c: batch.schema.field(c).type for c in self.columns}
        if self._wanted is None or self._wanted[0] != tuple(types.values()):
            self._wanted = (tuple(types.values()), _joined(self.values, self.columns, types))
        return pc.is_in(_joined(batch, self.columns, None), value_set=self._wanted[1])


def _joined(table: pa.Table, columns: list[str], types: dict[str, pa.DataType] | None) -> pa.Array:
    """Each row's values of `columns` as one text, comparable between the database's answer and a batch."""
    texts = []
    for column in columns:
        values = table[column]
        if types is not None and values.type != types[column]:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):  # else compared as text
                values = pc.cast(values, types[column])
        texts.append(pc.cast(values, pa.string()))
    if len(texts) == 1:
        return pc.fill_null(texts[0], _NULL)
    return pc.binary_join_element_wise(*texts, _SEPARATOR, null_handling="replace", null_replacement=_NULL)


def sqlite_query(select: str, columns: list[str]) -> str:
    """DuckDB's query, over the sqlite scanner's `select`, for the values of `columns` (as the database names
    them) that more than one differing row holds."""
    named = ", ".join(quoted(column) for column in columns)
    return f"SELECT {named} FROM ({select}) AS read_rows GROUP BY ALL HAVING count(DISTINCT read_rows) > 1"


def postgres_ties(engine, query, columns: list[str]) -> list[tuple]:
    """The values of `columns` that more than one differing row of dlt's `query` holds, read in the snapshot
    that dlt's read of the same query then takes: the next transaction the engine begins imports it. Two
    snapshots would let a row committed in between be read without being checked against the rows it ties.

    A server that cannot export a snapshot (a standby before PostgreSQL 10, a work-alike) is asked in a
    snapshot of its own, as the read is."""
    from sqlalchemy import event
    from sqlalchemy.exc import DBAPIError

    holder = engine.connect()
    try:
        holder.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        snapshot = holder.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    except DBAPIError:
        holder.rollback()
        snapshot = None
    try:
        found = [tuple(row) for row in holder.execute(postgres_query(query, columns)).all()]
    except BaseException:
        holder.close()
        raise
    if snapshot is None:
        holder.close()
        return found

    def adopt(connection) -> None:
        """The read's transaction, first thing: the snapshot the ties were found in (then the holder may go)."""
        try:
            with contextlib.closing(connection.connection.dbapi_connection.cursor()) as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        finally:
            holder.close()

    event.listen(engine, "begin", adopt, once=True)
    return found


def postgres_query(query, columns: list[str]):
    """The same for PostgreSQL, over dlt's SQLAlchemy `query` of the table (with its cursor condition)."""
    from sqlalchemy import Text, cast, distinct, func, literal_column, select

    read = query.subquery("read_rows")
    named = [read.c[column] for column in columns]
    # a row's text form compares any column type (a json column has no equality)
    return select(*named).group_by(*named).having(func.count(distinct(cast(literal_column("read_rows"), Text))) > 1)
