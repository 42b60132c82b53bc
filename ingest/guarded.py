"""The contracts around every resource: dlt's schema contract and the pandera check, and clear failures."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from dlt.common.schema.exceptions import DataValidationError
from dlt.extract.items_transform import ItemTransform

from core.erasures import erase_records, erase_rows
from core.errors import PlatformError, describe_error
from core.settings_sources import SchemaContract
from ingest.contracts import ContractGuard
from ingest.file_values import split_non_finite, split_unusable_keys
from ingest.sql_ties import SharedKeys


class _ContractStep(ItemTransform):
    """Runs after dlt's incremental filter, so only rows that would be loaded are checked and counted."""

    placement_affinity = 1.5

    def __init__(self, check, primary_key: str) -> None:
        super().__init__(check)
        self.primary_key = primary_key

    def __call__(self, item: Any, meta: Any = None) -> Any:
        checked = self._f(item)
        if isinstance(checked, list):
            return checked or None  # None drops the item: no empty files for fully refused batches
        if checked.num_rows == 0:
            return None
        return _utc(_key_not_null(checked, self.primary_key))


class _NonFiniteStep(ItemTransform):
    """Sets aside a SQL table's rows holding a number that is not finite (`non_finite: quarantine`), before the
    contract: quarantined as `non_finite`, naming the column, counted in the table's share of bad rows."""

    placement_affinity = 1.4

    def __init__(self, guard: ContractGuard, table: str) -> None:
        super().__init__(_as_checked)
        self.guard, self.table = guard, table

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, (pa.Table, list)):
            return item
        split = split_non_finite(item, None, None)
        if split.quarantined is not None:
            self.guard.add_rejects(self.table, split.quarantined, split.quarantined.num_rows)
        return split.rows


class _KeyStep(ItemTransform):
    """Sets aside a SQL table's or an API's rows whose key staging could not use, before the contract (a key with
    no value; a key and cursor value shared with another row that differs, in the batch, or of an API, on an earlier
    page of the load): quarantined as `key_missing` or `duplicate_key`, counted in the table's share of bad rows."""

    placement_affinity = 1.3

    def __init__(
        self, guard: ContractGuard, table: str, keys: list[str], cursor: str | None, unique: bool, shared: SharedKeys | None
    ) -> None:
        super().__init__(_as_checked)
        self.guard, self.table, self.keys, self.cursor, self.unique, self.shared = guard, table, keys, cursor, unique, shared
        self.earlier: dict[bytes, bytes] = {}  # an API's records of earlier pages, by key and cursor value

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, (pa.Table, list)):
            return item
        earlier = self.earlier if isinstance(item, list) else None
        split = split_unusable_keys(item, self.keys, self.cursor, unique=self.unique, shared=self.shared, earlier=earlier)
        if split.quarantined is not None:
            self.guard.add_rejects(self.table, split.quarantined, split.quarantined.num_rows)
        return split.rows


class _ErasureStep(ItemTransform):
    """Erases the personal columns of erased subjects' rows as they land (the erasure list, core/erasures.py).

    After the contract step: the contract checks the source's own values (in memory), and what is
    written anywhere is already erased; quarantined rows are erased the same way (ingest/pipeline.py).
    """

    placement_affinity = 1.6

    def __init__(self, key: list[str], keys: list[str], columns: list[str]) -> None:
        super().__init__(_as_checked)
        self.key, self.keys, self.columns = key, keys, columns

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if isinstance(item, pa.Table):
            return erase_rows(item, self.key, self.keys, self.columns)[0]
        if isinstance(item, list):
            erase_records(item, self.key, self.keys, self.columns)
        elif isinstance(item, dict):
            erase_records([item], self.key, self.keys, self.columns)
        return item


def _as_checked(item: Any) -> Any:
    return item


def _table_check(guard: ContractGuard, table: str):
    def check(item: Any) -> Any:  # dlt passes `meta` to a step whose function takes more than the item
        return guard.check(table, item)

    return check


def _key_not_null(table: pa.Table, key: str) -> pa.Table:
    """Mark the key's Arrow field non-nullable, as dlt's primary key hint is (else dlt warns on every batch)."""
    if key not in table.column_names or table[key].null_count:
        return table
    index = table.schema.get_field_index(key)
    field = table.schema.field(index)
    return table if not field.nullable else table.cast(table.schema.set(index, field.with_nullable(False)))


def _utc(table: pa.Table) -> pa.Table:
    """Naive timestamps labelled UTC, as dlt stores them: a metadata-only cast (dlt's own relabelling scans every value)."""
    fields = [
        f.with_type(pa.timestamp(f.type.unit, tz="UTC")) if pa.types.is_timestamp(f.type) and f.type.tz is None else f for f in table.schema
    ]
    return table if fields == list(table.schema) else table.cast(pa.schema(fields, metadata=table.schema.metadata))


def schema_contract(mode) -> str | dict:
    """A setting (one mode for everything, or per entity) in dlt's form."""
    return mode.model_dump() if isinstance(mode, SchemaContract) else mode


def guard_resources(
    resources: list,
    source,
    guard: ContractGuard,
    *,
    checked: bool = False,
    unique_keys: frozenset[str] = frozenset(),
    shared_keys: dict[str, SharedKeys] | None = None,
) -> None:
    """Apply each table's schema contract and put its pandera check into the resource's pipe, then the
    erasure of the table's erased subjects (`guard.erasure`, from the erasure list).

    checked: the rows were validated before they were yielded (file drops); only the hints are applied.
    unique_keys: tables whose key the database keeps unique: their batches are not searched for rows sharing it.
    shared_keys: per table, the values of its key that the database found more than one differing row of, over the
    whole read (ingest/sql_ties.py).
    """
    for resource in resources:
        table = source.tables.get(resource.name)
        mode = (table.contract if table is not None else None) or source.contract
        resource.apply_hints(schema_contract=schema_contract(mode))
        if table is not None:
            if not checked:  # a file drop's are set aside as read
                # a SQL table's cursor; an API endpoint's, when it is incremental
                cursor = getattr(table, "cursor", None) or getattr(getattr(table, "incremental", None), "cursor_path", None)
                shared = (shared_keys or {}).get(resource.name)
                resource.add_step(_KeyStep(guard, resource.name, table.key_columns, cursor, resource.name in unique_keys, shared))
            if not checked and getattr(table, "non_finite", "keep") == "quarantine":
                resource.add_step(_NonFiniteStep(guard, resource.name))
            check = _as_checked if checked else _table_check(guard, resource.name)
            resource.add_step(_ContractStep(check, table.primary_key))
            if resource.name in guard.erasure:
                resource.add_step(_ErasureStep(*guard.erasure[resource.name]))


def failure_message(source: str, exc: BaseException, store: str | None = None) -> PlatformError:
    """The root cause of a failed load as a PlatformError that names what was refused and where.

    `store`: the lake's S3 endpoint, named when the store is what failed.
    """
    cause = root_cause(exc)
    if isinstance(cause, PlatformError):
        return cause
    if store is not None and is_store_failure(cause):
        return PlatformError(
            f"Loading {source} failed: the lake's S3 store at {store} failed during the load "
            f"({describe_error(cause)}). The unfinished load stays invisible to staging; "
            "once the store works again, run again: that run completes it."
        )
    if isinstance(cause, DataValidationError):
        column = f", column {cause.column_name!r}" if cause.column_name else ""
        base, variant, kind = (cause.column_name or "").rpartition("__v_")
        if variant and cause.schema_entity == "data_type":  # dlt names the variant it would have made
            column = f", column {base!r} (a value of type {kind} where the column is typed otherwise)"
        return PlatformError(
            f"Schema contract refused the load of {source}: table {cause.table_name!r}{column} "
            f"({cause.schema_entity} is '{cause.contract_mode}'). Nothing was loaded. "
            f"Change the data, or relax `contract` for this source or table in config.yaml."
        )
    return PlatformError(f"Loading {source} failed{_where(exc)}: {describe_error(cause)}")


def _where(exc: BaseException) -> str:
    """`in table 't', column 'c'`, as far as dlt's exceptions on the way down name them."""
    named = [f"{kind} {name!r}" for kind, name in zip(("table", "column"), failed_in(exc), strict=True) if name]
    return " in " + ", ".join(named) if named else ""


def failed_in(exc: BaseException) -> tuple[str, str]:
    """The table (dlt's resource) and column (an Arrow field) a failed load names on the way down, or ''."""
    table = column = ""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        table = table or getattr(seen, "pipe_name", "") or ""
        column = column or getattr(seen, "_field_name", "") or ""
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "exception", None)
    return table, column


def is_store_failure(exc: BaseException) -> bool:
    """A connection that broke or timed out, or an error of the S3 client stack (not the source's)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return type(exc).__module__.split(".")[0] in ("botocore", "aiobotocore", "aiohttp", "s3fs")


def root_cause(exc: BaseException) -> BaseException:
    """The exception a failure began with: the first PlatformError or contract refusal on the way down, or the deepest."""
    seen = exc
    while True:
        if isinstance(seen, (PlatformError, DataValidationError)):
            return seen
        nxt = seen.__cause__ or seen.__context__ or getattr(seen, "exception", None)
        if nxt is None or nxt is seen:
            return seen
        seen = nxt


def schema_changes(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Columns that appeared in tables that already existed (dlt's own columns aside)."""
    return {
        table: added
        for table, columns in after.items()
        if table in before and (added := [c for c in columns if c not in before[table] and not c.startswith("_dlt")])
    }
