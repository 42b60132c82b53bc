"""What new raw data touched: which staging models to merge (or restate), and from which time on.

After an ingest, a staging model is stale where the raw layer holds a newer
version of a row than the model does (a new row, an update, a soft delete), or
where a row's hard delete (the raw views' `_deleted` flag) is not reflected yet:
flagged in `is_deleted`, or the row left out, depending on the model. A model
incremental by key (`@unmerged_keys`) is merged, any other kind restated; a model
of any kind that raw lost rows of (a snapshot replaced, even by one of no row) is
rebuilt whole.
The incremental order facts are partitioned by the time their order was placed,
so the marts are restated from the earliest such time among the touched rows -
a status change on an old order reaches back to that order's day - to the
end. The comparison is by data, not bookkeeping, so a failed or repeated
build never loses track of what is stale. It is skipped when the raw layer holds
exactly the completed loads that the last applied comparison saw: the warehouse
keeps their names, written only once the restatement they led to has been
applied. Otherwise only the keys that the loads not applied yet brought (or that
are deleted) are compared, by their load ids: every other key was level with raw
at that comparison. A model that joins another raw table names it in its
`@unmerged_keys` calls (an order's lines join the order): the keys whose joined rows
a new load brought are compared too, so a line that landed a load before its order
is found stale when the order lands, and the model is rebuilt whole when the joined table lost rows
(the lines of a vanished order go, as a full build leaves them out). Which loads are new is a set difference, never a comparison
of load ids, which dlt takes from the clock: a clock that jumps changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlmesh.core.dialect import MacroFunc

from core.errors import PlatformError
from core.run_context import RunContext
from core.settings import Settings
from core.settings_sources import EndpointSettings
from core.warehouse import sql_identifier, sql_literal

# The time of the order a row belongs to: the partition of the incremental order facts.
_ORDER_TIME = "(SELECT min(orders.ordered_at)::TIMESTAMP FROM raw_shop.orders AS orders WHERE orders.id = changed.order_id)"


# How a staging model shows a deleted row, and so when its staged row is out of date.
_VERSION_DIFFERS = "staged.{cursor} IS DISTINCT FROM raw.{cursor}::TIMESTAMP"
# `{deleted}`: whether the raw row is softly deleted, from the table's soft-delete column (`soft_deleted_sql`).
FLAGS_DELETES = f"{_VERSION_DIFFERS} OR staged.is_deleted IS DISTINCT FROM ({{deleted}} OR raw._deleted)"
DROPS_DELETES = f"CASE WHEN raw._deleted THEN staged.{{cursor}} IS NOT NULL ELSE {_VERSION_DIFFERS} END"
# A table with no cursor (a file drop without one) cannot say which version is newer: every key in a new
# load counts as changed (the first comparison, which sees no applied loads, restates the model whole).
STALE_WITHOUT_CURSOR = "TRUE"


@dataclass(frozen=True)
class Touch:
    """One `@unmerged_keys(table, key[, column])` call of a staging model: the rows whose `key` is among
    `column` of `raw_table`'s rows that a new load brought (or deleted) are the ones to compare."""

    raw_table: str
    key: str  # DuckDB SQL on the model's raw table's columns: `id`, `(order_id, line_number)`
    column: str  # the same on `raw_table`'s columns

    @property
    def source(self) -> str:
        return self.raw_table.split(".")[0].removeprefix("raw_")


@dataclass(frozen=True)
class StagingScope:
    """How one staging model relates to its raw table: the keys, the cursor, deletes, and the time its changes count from."""

    model: str
    source: str
    raw_table: str
    raw_key: tuple[str, ...]  # the table's primary key (one column, or the columns of a composite key)
    key: tuple[str, ...]  # the model's grain, column for column
    cursor: str | None  # None: the table declares no cursor (STALE_WITHOUT_CURSOR)
    time_sql: str  # the time from which a changed row touches the incremental models downstream
    stale_sql: str = DROPS_DELETES  # when a staged row (or its absence) no longer matches the latest raw row
    soft_delete: str | None = None  # the raw column that marks a soft delete (FLAGS_DELETES); None: hard deletes only
    touches: tuple[Touch, ...] = ()  # its `@unmerged_keys` calls; none: the keys of its own raw table's new loads


# The time from which a change to a staging model's row touches the marts incremental by time, when it
# is not the row's cursor: an order belongs to the day it was placed, its lines and payments to their
# order's. An incremental-by-time staging model is partitioned by its own time column.
PARTITION_TIME = {
    "staging.stg_shop__orders": "changed.ordered_at::TIMESTAMP",
    "staging.stg_shop__order_items": _ORDER_TIME,
    "staging.stg_shop__payments": _ORDER_TIME,
}


def staging_scopes(models: Iterable, settings: Settings) -> list[StagingScope]:
    """A scope for every staging model named after a declared table (`stg_<source>__<table>`).

    The keys and cursor come from the source's declaration, the staged key from the model's grain,
    the partition from its time column: a new table needs no code here.
    """
    scopes = []
    for model in models:
        schema, _, name = model.name.rpartition(".")
        source, _, table = name.removeprefix("stg_").partition("__")
        declared = settings.sources.get(source)
        if schema.strip('"') != "staging" or not name.startswith("stg_") or declared is None or table not in declared.tables:
            continue
        kind = model.kind
        if not (kind.is_full or kind.is_incremental_by_time_range or kind.is_incremental_by_unique_key) or not model.grains:
            continue  # history (SCD type 2) models are refreshed, not restated
        spec = declared.tables[table]
        if len(grain_columns(model)) != len(spec.key_columns):
            raise PlatformError(
                f"The grain of {model.name} has {len(grain_columns(model))} column(s), the primary_key of {source}.{table} "
                f"{len(spec.key_columns)} ({', '.join(spec.key_columns)}): a staging model's grain is its table's key, column for column."
            )
        cursor = None if isinstance(spec, EndpointSettings) else spec.cursor  # REST endpoints declare no cursor column
        if model.name in PARTITION_TIME:
            time_sql = PARTITION_TIME[model.name]
        elif model.kind.is_incremental_by_time_range:
            time_sql = f"changed.{model.time_column.column.name}::TIMESTAMP"
        else:
            # The marts keep each day's version of its rows (a product's category in product_daily_sales):
            # a change counts from when it was made, however late it arrives. A hard delete changes no
            # past day (its cursor is the last update's, maybe months old).
            time_sql = f"CASE WHEN changed._deleted THEN NULL ELSE changed.{cursor}::TIMESTAMP END" if cursor else "NULL"
        flags = "is_deleted" in model.columns_to_types  # a model with `is_deleted` flags deleted rows; any other leaves them out
        scopes.append(
            StagingScope(
                model=model.name,
                source=source,
                raw_table=f"raw_{source}.{table}",
                raw_key=tuple(spec.key_columns),
                key=grain_columns(model),
                cursor=cursor,
                time_sql=time_sql,
                stale_sql=STALE_WITHOUT_CURSOR if cursor is None else FLAGS_DELETES if flags else DROPS_DELETES,
                soft_delete=spec.soft_delete or ("deleted_at" if "deleted_at" in model.columns_to_types else None),
                touches=unmerged_keys_calls(model),
            )
        )
    return scopes


def unmerged_keys_calls(model) -> tuple[Touch, ...]:
    """The `@unmerged_keys` calls in a SQL model's query, as written (before rendering)."""
    calls = [call.this for call in model.query.find_all(MacroFunc) if call.this.name == "unmerged_keys"] if model.is_sql else []
    sql = lambda arg: arg.sql(dialect="duckdb")
    return tuple(Touch(sql(args[0]), sql(args[1]), sql(args[-1])) for args in (call.expressions for call in calls))


def grain_columns(model) -> tuple[str, ...]:
    """A model's first grain as columns: `grain id` (or `grain (id)`) is one, `grain (a, b)` is a composite."""
    grain = model.grains[0]
    grain = grain.this if isinstance(grain, exp.Paren) else grain
    return tuple(part.name for part in grain.expressions) if isinstance(grain, exp.Tuple) else (grain.name,)


@dataclass
class Restatement:
    """The staging models to restate (or merge), their changed row counts, and the start of the time range.

    `whole` names the models that raw lost rows of (a table read again, a snapshot replaced, even by
    one of no row): a merge cannot bring them level, and no changed row tells the other kinds; they
    are rebuilt from every load, and everything downstream from the beginning."""

    models: list[str] = field(default_factory=list)
    changed_rows: dict[str, int] = field(default_factory=dict)
    start: dt.datetime | None = None
    whole: list[str] = field(default_factory=list)

    def including(self, other: Restatement) -> Restatement:
        """This restatement widened to cover `other` too (its models, and the earlier start; a side with
        models and no start restates from the beginning)."""
        sides = [side for side in (self, other) if side.models]
        starts = [side.start for side in sides if side.start is not None]
        start = min(starts) if starts and len(starts) == len(sides) else None
        models = self.models + [name for name in other.models if name not in self.models]
        whole = self.whole + [name for name in other.whole if name not in self.whole]
        return Restatement(models=models, changed_rows=dict(self.changed_rows), start=start, whole=whole)


def soft_deleted_sql(column: str | None, data_type: str | None) -> str:
    """Whether the latest raw row is softly deleted, from the type of the table's soft-delete column in raw:
    a boolean deletes when true, an integer when not 0, any other type when set. A column that raw does
    not hold (never loaded, or the table has none) deletes nothing."""
    if column is None or data_type is None:
        return "false"
    value = f"raw.{sql_identifier(column)}"
    if data_type.upper() == "BOOLEAN":
        return f"coalesce({value}, false)"
    if data_type.upper().removeprefix("U") in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}:
        return f"coalesce({value} <> 0, false)"
    return f"{value} IS NOT NULL"


def column_type_sql(raw_table: str, column: str) -> str:
    """The type of one column of a raw view (no row when the view has no such column)."""
    schema, _, table = raw_table.partition(".")
    return (
        f"SELECT data_type FROM information_schema.columns WHERE table_schema = {sql_literal(schema)} "
        f"AND table_name = {sql_literal(table)} AND column_name = {sql_literal(column)}"
    )


def comparison_sql(scope: StagingScope, new_loads: dict[str, list[str]], deleted: str = "false") -> str:
    """Changed keys and their earliest time: the latest raw version of a key against its staged row.

    Only the keys that the model's `@unmerged_keys` calls name in `new_loads` (per source, the completed
    loads that no applied comparison saw), and deleted keys, are compared; a source missing from
    `new_loads` compares every key. `deleted` says whether the raw row is softly deleted (`soft_deleted_sql`).
    A key of the model's own new loads is compared by its latest version among those loads (and its
    deleted rows), read from their files alone: an older version arriving late then counts as a change,
    which the merge, reading every version, leaves as it was. A key a joined table's new load brought
    is compared by its latest version in every load.
    """
    raw_key = ", ".join(scope.raw_key)
    keyed = raw_key if len(scope.raw_key) == 1 else f"({raw_key})"
    touches = scope.touches or (Touch(scope.raw_table, keyed, keyed),)
    touched = ""
    if all(touch.source in new_loads for touch in touches):
        predicates = []
        for touch in touches:
            loads = ", ".join(sql_literal(load_id) for load_id in new_loads[touch.source]) or "NULL"
            rows = f"_dlt_load_id IN ({loads}) OR _deleted"
            own = touch.raw_table == scope.raw_table and touch.key == touch.column
            predicates.append(f"({rows})" if own else f"{touch.key} IN (SELECT {touch.column} FROM {touch.raw_table} WHERE {rows})")
        touched = f"WHERE {' OR '.join(predicates)} "
    latest = f"{scope.cursor} DESC, _dlt_load_id DESC" if scope.cursor else "_dlt_load_id DESC"
    joined = " AND ".join(f"staged.{staged} = raw.{raw}" for staged, raw in zip(scope.key, scope.raw_key, strict=True))
    return (
        f"WITH raw AS (SELECT * FROM {scope.raw_table} {touched}"
        f"QUALIFY row_number() OVER (PARTITION BY {raw_key} ORDER BY {latest}) = 1), "
        f"changed AS (SELECT raw.* FROM raw LEFT JOIN {scope.model} AS staged ON {joined} "
        f"WHERE {scope.stale_sql.format(cursor=scope.cursor, deleted=deleted)}) "
        f"SELECT count(*), min({scope.time_sql}) FROM changed"
    )


def vanished_sql(scope: StagingScope, new_loads: list[str] | None) -> str:
    """Whether raw may have lost rows the model holds (a merge never removes one; a snapshot that replaced the
    one before with no row, an emptied table or one whose every row was quarantined, shows no changed row).

    With `new_loads`, raw lost rows only when the table was read again whole (`just reingest`, a snapshot
    that replaced the one before): none of its rows is then from an earlier load, which the first row
    read tells. Without, the staged keys that raw no longer holds are counted."""
    if new_loads is not None:
        if not new_loads:
            return "SELECT 0"
        loads = ", ".join(sql_literal(load_id) for load_id in new_loads)
        earlier = f"SELECT 1 FROM {scope.raw_table} WHERE _dlt_load_id NOT IN ({loads}) LIMIT 1"
        return f"SELECT CASE WHEN EXISTS ({earlier}) THEN 0 ELSE (SELECT count(*) FROM {scope.model}) END"
    joined = " AND ".join(f"staged.{staged} = raw.{raw}" for staged, raw in zip(scope.key, scope.raw_key, strict=True))
    return f"SELECT count(*) FROM {scope.model} AS staged WHERE NOT EXISTS (SELECT 1 FROM {scope.raw_table} AS raw WHERE {joined})"


def joined_vanished_sql(scope: StagingScope, touch: Touch, new_loads: list[str] | None) -> str:
    """Whether the raw table that the model joins through `touch` (the orders of its lines) may have lost
    rows: a merge would keep the rows that joined them. With `new_loads`, when that table was read again
    whole (`vanished_sql` on it); without, when a row of the model's raw table joins no row of it (a line
    loaded before its order counts too: the model is rebuilt, which costs time and changes nothing)."""
    if new_loads is not None:
        return vanished_sql(dataclasses.replace(scope, raw_table=touch.raw_table), new_loads)
    return (
        f"SELECT count(*) FROM (SELECT 1 FROM {scope.raw_table} WHERE NOT _deleted AND {touch.key} NOT IN "
        f"(SELECT {touch.column} FROM {touch.raw_table}) LIMIT 1)"
    )


def find_restatement(fetchone: Callable[[str], tuple | None], scopes: list[StagingScope], new_loads: dict[str, list[str]]) -> Restatement:
    """Compare each scope's staging model with the raw layer through `fetchone(sql)`; `new_loads` holds
    each source's loads that no applied comparison saw (a source missing from it is compared whole)."""
    result = Restatement()
    for scope in scopes:
        found = fetchone(column_type_sql(scope.raw_table, scope.soft_delete)) if scope.soft_delete else None
        deleted = soft_deleted_sql(scope.soft_delete, found[0] if found else None)
        count, start = fetchone(comparison_sql(scope, new_loads, deleted)) or (0, None)
        # Every kind: a snapshot that replaced the one before with no row brings no changed row to compare.
        vanished = (fetchone(vanished_sql(scope, new_loads.get(scope.source))) or (0,))[0]
        for touch in scope.touches:
            if not vanished and touch.raw_table != scope.raw_table:  # a table it joins lost rows: the rows that joined them go too
                vanished = (fetchone(joined_vanished_sql(scope, touch, new_loads.get(touch.source))) or (0,))[0]
        if vanished:
            result.whole.append(scope.model)
        if not count and not vanished:
            continue
        result.models.append(scope.model)
        result.changed_rows[scope.model] = int(count) + int(vanished)
        if start is not None:
            day = dt.datetime.combine(start.date(), dt.time())
            result.start = day if result.start is None else min(result.start, day)
    return result


@dataclass(frozen=True)
class RawLoads:
    """The raw layer's completed loads, each named `<source>/<load id>`."""

    names: frozenset[str]

    def new_since(self, applied: RawLoads | None) -> dict[str, list[str]]:
        """Per source, the load ids not in `applied`; a source that `applied` never saw is left out
        (compared whole), and so is every source when nothing was applied yet."""
        if applied is None:
            return {}
        seen = {name.split("/", 1)[0] for name in applied.names}
        new: dict[str, list[str]] = {source: [] for source in seen}
        for name in sorted(self.names - applied.names):
            source, _, load_id = name.partition("/")
            if source in seen:
                new[source].append(load_id)
        return new


def raw_loads(run: RunContext) -> RawLoads:
    """Raw only ever changes by a completed dlt load, and dlt records each completed load as one file,
    `<source>/_dlt_loads/<schema>__<load id>.jsonl`: their names say which loads raw holds."""
    settings, lake = run.settings, run.lake
    names = set()
    for source in settings.sources:
        for path in lake.fs.glob(lake.url("raw", source, "_dlt_loads") + "/*.jsonl"):
            load_id = path.rsplit("/", 1)[-1].removesuffix(".jsonl").rsplit("__", 1)[-1]
            names.add(f"{source}/{load_id}")
    return RawLoads(frozenset(names))
