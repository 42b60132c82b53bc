"""SQL database sources: one dlt resource per declared table, incremental on its cursor.

SQLite is read through DuckDB's sqlite scanner (the file attached read-only, each table
read in one transaction), which hands dlt Arrow batches (twice
as fast as dlt's own pyarrow backend here), read ahead on a thread while the previous
batch is checked and written; after the first load, SQLite itself picks the rows the
cursor may select (`ingest/sqlite_candidates.py`). PostgreSQL goes through dlt's
`sql_database` with the pyarrow backend. Both append every new version of a row, in
chunks of `chunk_size`; the latest version per key wins in staging, and soft deletes
travel as ordinary updates. A table with `detect_hard_deletes` also gets
`<table>__deleted`: keys that are in raw but no longer in the source, found by
comparing keys on every run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
from dlt.extract.items_transform import ItemTransform

from core import warehouse
from core.errors import PlatformError, TableRefused
from core.lake import DELETED_SUFFIX, Lake
from core.run_context import RunContext
from core.settings import Settings
from core.settings_sources import PostgresSource, SqliteSource, TableSettings
from core.warehouse import sql_identifier, sql_literal
from ingest.file_readers import raw_names
from ingest.read_ahead import read_ahead
from ingest.sql_ties import SharedKeys, postgres_ties, sqlite_query
from ingest.sqlite_candidates import candidate_rows, quoted
from ingest.sqlite_mixed import VARIANTS, split_by_type


def sqlite_file(settings: Settings, name: str) -> Path:
    path = settings.source_path(name)
    if not path.is_file():
        raise PlatformError(f"Source database {path} does not exist. Check `path` under sources.{name} in config.yaml.")
    return path


def postgres_url(settings: Settings, source: PostgresSource) -> str:
    from sqlalchemy.engine import URL

    url = URL.create(
        "postgresql+psycopg",
        username=source.user,
        password=settings.secret(source.password_env),
        host=source.host,
        port=source.port,
        database=source.database,
    )
    return url.render_as_string(hide_password=False)


def table_resources(
    run: RunContext, name: str, mixed: frozenset[str] = frozenset(), left_out: frozenset[str] = frozenset()
) -> tuple[list, frozenset[str], dict[str, SharedKeys]]:
    """Every declared table of a SQL source (but `left_out`) as a dlt resource (plus hard-delete detectors), the
    tables whose key the database keeps unique (a primary key or unique index on key columns), and of the others,
    the key values that more than one differing row of the read holds, found as the table's read begins
    (ingest/sql_ties.py). A declared table the database does not have is refused on its own (TableRefused).

    mixed: tables whose read failed on a value its column's type cannot take (`read_again_split`), read so that
    such values go to variant columns (ingest/sqlite_mixed.py, ingest/postgres_types.py).
    """
    settings, lake = run.settings, run.lake
    source = settings.sources[name]
    if isinstance(source, SqliteSource):
        declared = {table: spec for table, spec in source.tables.items() if table not in left_out}
        path = sqlite_file(settings, name)
        _refuse_missing(name, declared, _sqlite_tables(path), str(path))
        scanner = _SqliteScanner(path)
        tables = {table: _sqlite_table(scanner, table, spec, source.chunk_size, table in mixed) for table, spec in declared.items()}
        keys_of = lambda table, key: scanner.keys(_in_source(source, table), key)
    else:
        source = settings.source_of_kind(name, PostgresSource)
        declared = {table: spec for table, spec in source.tables.items() if table not in left_out}
        url = postgres_url(settings, source)
        where = f"PostgreSQL {source.host}:{source.port}/{source.database}, schema {source.db_schema}"
        _refuse_missing(name, declared, _postgres_tables(url, source.db_schema), where)
        tables = {table: _postgres_table(url, source, table, spec, table in mixed) for table, spec in declared.items()}
        keys_of = lambda table, key: _postgres_keys(url, source.db_schema, _in_source(source, table), key)
    resources = [resource for resource, _ in tables.values()]
    for table, spec in declared.items():
        if spec.detect_hard_deletes:
            resources.append(_deleted_keys(lake, name, table, spec.key_columns, keys_of))
    unique = frozenset(table for table, (_, shared) in tables.items() if shared is None)
    return resources, unique, {table: shared for table, (_, shared) in tables.items() if shared is not None}


def _refuse_missing(source: str, declared: dict[str, TableSettings], present: set[str], where: str) -> None:
    """Refuse the first declared table that the database has no table or view of (the others can still load);
    `present` as the database compares names (SQLite's in lower case)."""
    for table, spec in declared.items():
        if (spec.source_table or table) not in present and (spec.source_table or table).lower() not in present:
            raise TableRefused(
                table,
                f"Loading {source} failed for table {table!r}: the database ({where}) has no table or view "
                f"{spec.source_table or table!r}. Nothing of it was loaded. Create it, or correct sources.{source}.tables.{table} "
                "(or its `source_table`) in config.yaml.",
            )


def _sqlite_tables(path: Path) -> set[str]:
    """The tables and views of a SQLite file, in lower case (SQLite's names ignore case)."""
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
        return {name.lower() for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def _postgres_tables(url: str, schema: str) -> set[str]:
    """The tables, views and materialized views of a PostgreSQL schema."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {*inspector.get_table_names(schema), *inspector.get_view_names(schema), *inspector.get_materialized_view_names(schema)}
    finally:
        engine.dispose()


def _unique(key: list[str], unique_sets: list[list[str]]) -> bool:
    """Whether the database keeps `key` unique: a primary key or unique index is on some of its columns."""
    return any(columns and set(columns) <= set(key) for columns in unique_sets)


def _in_source(source: SqliteSource | PostgresSource, table: str) -> str:
    """The name of a declared table in the database."""
    return source.tables[table].source_table or table


def _as_spelled(columns: list[str]) -> dict[str, str]:
    """Raw's name of each of a table's columns -> the database's (`order_id` -> `OrderID`): a table's key and cursor
    are declared as raw names them, and dlt's cursor and key work on the rows as the database names their columns."""
    return dict(zip(raw_names(columns), columns, strict=True)) | {column: column for column in columns}


class _RawNames(ItemTransform):
    """Renames a batch's columns as raw names them, right after dlt's cursor (which needs the database's names):
    the contract, the key checks and the erasure of erased subjects know columns by raw's names only."""

    placement_affinity = 1.05

    def __init__(self) -> None:
        super().__init__(lambda item: item)

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if isinstance(item, pa.Table):
            named = raw_names(item.column_names)
            return item if named == item.column_names else item.rename_columns(named)
        return item


class _SqliteScanner:
    """One DuckDB connection with the sqlite scanner for all tables of a run (loading the extension is slow)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opening = threading.Lock()  # tables are read on their own read-ahead threads
        self._reads = 0

    @contextlib.contextmanager
    def snapshot(self, path: Path | None = None) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        """A cursor whose queries read the SQLite file `path` (the source's own by default) as of one moment, and
        the name the file is attached by. Attached read-only and read in one transaction, which is one SQLite read
        transaction: a WAL snapshot, or a rollback journal's shared lock (a writer's commit waits for its end, as it
        waits for any read)."""
        with self._opening:
            if self._con is None:
                self._con = warehouse.connect(extensions=("sqlite_scanner",))
            cursor = self._con.cursor()
            self._reads += 1
            alias = f"sqlite_read_{self._reads}"
        cursor.execute(f"ATTACH {sql_literal(str(path or self.path))} AS {alias} (TYPE sqlite, READ_ONLY)")
        try:
            cursor.execute("BEGIN TRANSACTION")
            yield cursor, alias
        finally:
            for statement in ("ROLLBACK", f"DETACH {alias}"):
                with contextlib.suppress(duckdb.Error):  # what failed inside is the error to report
                    cursor.execute(statement)
            cursor.close()

    def unique_sets(self, table: str) -> list[list[str]]:
        """The columns of the table's primary key and of each of its unique indexes, as SQLite declares them."""
        with contextlib.closing(sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)) as con:
            name = quoted(table)
            sets = [[row[1] for row in sorted(con.execute(f"PRAGMA table_info({name})"), key=lambda row: row[5]) if row[5]]]
            for index in con.execute(f"PRAGMA index_list({name})").fetchall():
                if index[2]:  # unique
                    sets.append([row[2] for row in con.execute(f"PRAGMA index_info({quoted(index[1])})")])
        return sets

    def types(self, table: str) -> dict[str, str]:
        """Each column's type, as the scanner reads the table."""
        with self.snapshot() as (read, alias):
            return {row[0]: row[1] for row in read.execute(f"DESCRIBE SELECT * FROM {alias}.{quoted(table)}").fetchall()}

    def keys(self, table: str, key: list[str]) -> pa.Table:
        """The table's keys (`key` as raw names them), its columns named as raw names them."""
        spelled = _as_spelled(list(self.types(table)))
        columns = ", ".join(quoted(spelled.get(k, k)) for k in key)
        with self.snapshot() as (read, alias):
            return read.execute(f"SELECT {columns} FROM {alias}.{quoted(table)}").to_arrow_table().rename_columns(key)


def read_again_split(source: SqliteSource | PostgresSource, failure: BaseException) -> bool:
    """Whether a load of `source` failed on a value its column's type cannot take, so that reading the table with
    such values in variant columns may load it: a SQLite value of another type than its column's (the scanner
    refuses it), a PostgreSQL `infinity` date or timestamp (psycopg refuses it) or `NaN` NUMERIC (Arrow does)."""
    if isinstance(source, SqliteSource):
        refusals: tuple[type[BaseException], ...] = (
            duckdb.TypeMismatchException,
            duckdb.ConversionException,
            duckdb.NotImplementedException,
        )
    else:
        import psycopg

        refusals = (psycopg.DataError, pa.ArrowInvalid)
    seen: BaseException | None = failure
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, refusals):
            return True
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "exception", None)
    return False


def _sqlite_table(scanner: _SqliteScanner, table: str, spec: TableSettings, chunk_size: int, mixed: bool):
    name = spec.source_table or table  # in the database
    spelled = _as_spelled(list(scanner.types(name)))
    cursor_column = spelled.get(spec.cursor, spec.cursor) if spec.cursor else None
    cursor: dlt.sources.incremental[Any] | None = dlt.sources.incremental(cursor_column) if cursor_column else None

    def rows(incremental=cursor) -> Iterator[pa.Table]:
        where, params = "", []
        last_value = None
        if incremental is not None and incremental.last_value is not None and cursor_column:
            last_value = _naive(incremental.last_value)
            # >= keeps rows that share the last cursor value; dlt drops the ones it already has by key
            where, params = f" WHERE {quoted(cursor_column)} >= ?", [last_value]

        def batches() -> Iterator[pa.Table]:
            # the live file, or a scratch copy of its rows of another type than their column's, or of the rows the
            # cursor may select; the ties are asked in the read's own snapshot, so a row committed in between
            # is not read unchecked
            read_from = (
                split_by_type(scanner.path, name, scanner.types(name))
                if mixed
                else candidate_rows(scanner.path, name, cursor_column, last_value)
            )
            with read_from as path, scanner.snapshot(path) as (read, alias):
                sql = f"SELECT * FROM {alias}.{quoted(name)}{where}"
                if shared is not None:
                    shared.found(read.execute(sqlite_query(sql, by), params).to_arrow_table())
                for batch in read.execute(sql, params).to_arrow_reader(chunk_size):
                    table_batch = pa.Table.from_batches([batch])
                    yield _without_empty_variants(table_batch) if mixed else table_batch

        yield from read_ahead(batches)

    keys = [spelled.get(key, key) for key in spec.key_columns]
    by = keys + ([cursor_column] if cursor_column else [])
    shared = None if _unique(keys, scanner.unique_sets(name)) else SharedKeys(_raw_key(spec))
    resource = dlt.resource(rows, name=table, primary_key=keys, write_disposition=spec.disposition)
    return resource.add_step(_RawNames()), shared


def _without_empty_variants(batch: pa.Table) -> pa.Table:
    """A batch without the variant columns none of its rows has a value in (raw gets one only when needed)."""
    variants = tuple(suffix for suffix, _ in VARIANTS.values())
    empty = [c for c in batch.column_names if c.endswith(variants) and batch[c].null_count == batch.num_rows]
    return batch.drop_columns(empty)


def _postgres_table(url: str, source: PostgresSource, table: str, spec: TableSettings, split: bool):
    import sqlalchemy as sa
    from dlt.sources.sql_database import sql_table

    from ingest.postgres_types import exact_select, read_as_text  # SQLAlchemy, which a SQLite source does not need

    name = spec.source_table or table  # in the database
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        spelled = _as_spelled([column["name"] for column in inspector.get_columns(name, schema=source.db_schema)])
        unique_sets = [inspector.get_pk_constraint(name, schema=source.db_schema)["constrained_columns"]]
        unique_sets += [c["column_names"] for c in inspector.get_unique_constraints(name, schema=source.db_schema)]
        unique_sets += [[str(c) for c in i["column_names"]] for i in inspector.get_indexes(name, schema=source.db_schema) if i["unique"]]
    finally:
        engine.dispose()
    cursor = spelled.get(spec.cursor, spec.cursor) if spec.cursor else None
    keys = [spelled.get(key, key) for key in spec.key_columns]
    shared = None if _unique(keys, unique_sets) else SharedKeys(_raw_key(spec))

    def query(select, reflected, incremental=None, engine=None):
        """dlt's query adapter: the exact select; first, the key values that more than one differing row of it holds."""
        select = exact_select(select, reflected)
        if shared is not None and engine is not None:
            found = postgres_ties(engine, select, keys + ([cursor] if cursor else []))
            shared.found(pa.table({column: [row[i] for row in found] for i, column in enumerate(shared.columns)}))
        return select

    resource = sql_table(
        credentials=url,
        table=name,
        schema=source.db_schema,
        backend="pyarrow",
        chunk_size=source.chunk_size,
        incremental=dlt.sources.incremental(cursor) if cursor else None,
        primary_key=[spelled.get(key, key) for key in spec.key_columns],
        write_disposition=spec.disposition,
        reflection_level="full",
        table_adapter_callback=lambda reflected: read_as_text(reflected, cursor, split),
        query_adapter_callback=query,
    )
    return (resource if resource.name == table else resource.with_name(table)).add_step(_RawNames()), shared


def _raw_key(spec: TableSettings) -> list[str]:
    """The key columns, then the cursor, as raw names them (as they are declared)."""
    return [*spec.key_columns, *([spec.cursor] if spec.cursor else [])]


def _naive(value):
    """dlt keeps cursor values timezone-aware (UTC); the source's timestamps are naive."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _postgres_keys(url: str, schema: str, table: str, key: list[str]) -> pa.Table:
    """The table's keys (`key` as raw names them), read as raw holds them, its columns named as raw names them."""
    import sqlalchemy as sa

    from ingest.postgres_types import exact_columns, read_as_text

    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            reflected = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=con)
            spelled = _as_spelled([column.name for column in reflected.c])
            read_as_text(reflected, cursor=None)  # the keys as raw holds them (a key is never read as the cursor)
            rows = con.execute(sa.select(*exact_columns(reflected.c[spelled.get(name, name)] for name in key))).all()
    finally:
        engine.dispose()
    return pa.table({column: [row[i] for row in rows] for i, column in enumerate(key)})


def _deleted_keys(lake: Lake, source: str, table: str, key: list[str], keys_of):
    """Keys seen in raw that the source no longer has, with when that was noticed.

    A key is reported once per disappearance: again only if it came back (loaded in a later
    load than its last report) and went away again.
    """

    def deleted() -> Iterator[pa.Table]:
        loaded = lake.parquet_glob("raw", source, table)
        if not lake.fs.glob(loaded):
            return
        current = keys_of(table, key)
        columns = ", ".join(map(sql_identifier, key))
        seen = f"SELECT {columns}, max(_dlt_load_id) AS seen_in FROM read_parquet(?, union_by_name := true) GROUP BY ALL"
        params = [loaded]
        reported = lake.parquet_glob("raw", source, table + DELETED_SUFFIX)
        if lake.fs.glob(reported):
            # load ids are epoch seconds of equal width: text order is time order
            gone = f"SELECT {columns}, max(_dlt_load_id) AS gone_in FROM read_parquet(?) GROUP BY ALL"
            seen = (
                f"SELECT seen.* FROM ({seen}) AS seen LEFT JOIN ({gone}) AS gone USING ({columns}) "
                "WHERE gone.gone_in IS NULL OR gone.gone_in < seen.seen_in"
            )
            params.append(reported)
        sql = f"SELECT {columns} FROM ({seen}) AS seen ANTI JOIN current_keys USING ({columns}) ORDER BY ALL"
        with contextlib.closing(lake.attach(warehouse.connect())) as con:
            con.register("current_keys", current)
            gone_keys = con.execute(sql, params).to_arrow_table()
        if gone_keys.num_rows:
            noticed = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            yield gone_keys.append_column("deleted_detected_at", pa.array([noticed] * gone_keys.num_rows, pa.timestamp("us")))

    return dlt.resource(deleted, name=table + DELETED_SUFFIX, primary_key=key, write_disposition="append")
