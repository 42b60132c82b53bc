"""pandera contracts at the ingestion boundary: bad rows go to quarantine, good rows go on.

A table's contract is `schema` in `audits/contracts/<source>__<table>.py`. Each batch
(an Arrow table or a list of dicts) is validated lazily and vectorised; rows named in
the failure cases are split off with the most telling failed check, its column and
value (`_check`, `_column`, `_failure`), every failure of the row (`_failures`, a JSON
list), and where the row came from (`_source_file`, `_line`) when it came from a file.
The failing values stay in the quarantine: messages name the table, column, check, file and
line, never a value (they reach the run history, alerts and logs).
A database's or API's table is refused when its share of quarantined rows exceeds
`quality.max_bad_share` (`TableRefused`: the source's other tables load without it); a file is
refused alone (ingest/files.py). Counts are written
to `contract_results` in the metadata store.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import importlib
import importlib.machinery
import importlib.util
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core import metastore
from core.erasures import erase_rows
from core.errors import PlatformError, TableRefused
from ingest.quarantine import SpilledRows

CONTRACTS_PACKAGE = "audits.contracts"
MAX_PASSES = 3  # a failed coercion hides later checks on that column: validate what is left again


# pandera dtypes of a contract as Arrow types, to type text columns (CSV) once bad rows are out
ARROW_TYPES = {
    "int64": pa.int64(),
    "Int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "datetime64[us]": pa.timestamp("us"),
    "datetime64[ns]": pa.timestamp("us"),
}


def load_contract(contract: str):
    """The pandera schema of `audits/contracts/<contract>.py`, or None when there is no such module."""
    module_name = f"{CONTRACTS_PACKAGE}.{contract}"
    try:
        package = importlib.util.find_spec(CONTRACTS_PACKAGE)  # the package's place, without running it (it imports pandera)
    except ModuleNotFoundError:
        return None
    places = package.submodule_search_locations if package is not None else None
    if not places or importlib.machinery.PathFinder.find_spec(contract, places) is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (module_name, CONTRACTS_PACKAGE, "audits"):
            return None
        raise
    return module.schema


@dataclass
class TableTally:
    rows_in: int = 0
    batches: int = 0
    rows_quarantined: int = 0
    quarantined: list[pa.Table | SpilledRows] = field(default_factory=list)

    @property
    def rows_valid(self) -> int:
        return self.rows_in - self.rows_quarantined


class ContractGuard:
    """Validates every batch of one source's tables and keeps the tallies and quarantined rows."""

    def __init__(
        self,
        source: str,
        contracts: dict[str, str],
        *,
        enabled: bool,
        max_bad_share: float,
        erasure: dict[str, tuple[list[str], list[str], list[str]]] | None = None,
    ) -> None:
        """contracts: table -> contract module name. erasure: table -> (key columns, erased keys, columns
        to erase): quarantined rows of erased subjects are kept erased, failing values included."""
        self.source = source
        self.erasure = erasure or {}
        self.max_bad_share = max_bad_share
        self.contracts = {table: load_contract(module) for table, module in contracts.items()} if enabled else {}
        self.tallies: dict[str, TableTally] = {}
        self._uncoerced: dict[str, Any] = {}

    @property
    def uncovered(self) -> list[str]:
        return sorted(t for t, schema in self.contracts.items() if schema is None)

    def add_rejects(self, table: str, rejects: pa.Table | SpilledRows, rows_seen: int, *, into: TableTally | None = None) -> None:
        """Rows refused before validation (unparseable input), already carrying _check/_column/_failure; spilled
        rows were erased as they were spilled (`erased`)."""
        tally = into if into is not None else self.tallies.setdefault(table, TableTally())
        tally.rows_in += rows_seen
        tally.rows_quarantined += rejects.num_rows
        if rejects.num_rows:
            tally.quarantined.append(rejects if isinstance(rejects, SpilledRows) else self.erased(table, rejects))

    def accept(self, table: str, tally: TableTally) -> None:
        """Count a file's tally (kept apart by `check(..., into=)`) into its table's, once the file is taken."""
        total = self.tallies.setdefault(table, TableTally())
        total.rows_in += tally.rows_in
        total.batches += tally.batches
        total.rows_quarantined += tally.rows_quarantined
        total.quarantined += tally.quarantined

    def check(
        self, table: str, item: Any, *, into: TableTally | None = None, source_file: str | None = None, lines: list[int] | None = None
    ) -> Any:
        """Validate one batch; return its valid rows in the batch's own shape.

        into: the tally to count in (a file's own; default the table's). source_file, lines: where
        the batch's rows came from, kept with the quarantined ones.
        """
        tally = into if into is not None else self.tallies.setdefault(table, TableTally())
        rows = len(item) if isinstance(item, list) else item.num_rows
        tally.rows_in += rows
        tally.batches += 1
        schema = self.contracts.get(table)
        if schema is None or rows == 0:
            return item
        frame = pd.DataFrame(item) if isinstance(item, list) else item.to_pandas(types_mapper=_arrow_strings)
        if _has_types(schema, frame):  # a typed source: coercing would change nothing, slowly (timestamps)
            schema = self._uncoerced.setdefault(table, _without_coercion(schema))
        bad, valid = _failures(schema, frame, self.source, table)
        if not bad.empty:
            tally.rows_quarantined += len(bad)
            tally.quarantined.append(self.erased(table, _quarantine_rows(item, frame, bad, source_file, lines)))
        if isinstance(item, list):
            # JSON rows take the contract's types (timestamps as timestamps, not text) ...
            try:
                return pa.Table.from_pandas(valid, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # ... unless a column outside it mixes types: dlt makes variants
                return [row for row, ok in zip(item, ~frame.index.isin(bad.index), strict=True) if ok]
        if bad.empty:
            return _typed(item, schema)
        return _typed(item.filter(pa.array(~frame.index.isin(bad.index))), schema)

    def erased(self, table: str, rows: pa.Table) -> pa.Table:
        """Quarantine rows of `table` with the personal values of erased subjects erased."""
        if table not in self.erasure:
            return rows
        key, keys, columns = self.erasure[table]
        return erase_rows(rows, key, keys, columns)[0]

    def enforce_share(self) -> None:
        """Refuse the load when any table's share of bad rows is above the limit."""
        for table, tally in self.tallies.items():
            if tally.rows_in and tally.rows_quarantined / tally.rows_in > self.max_bad_share:
                share = tally.rows_quarantined / tally.rows_in
                raise TableRefused(
                    table,
                    f"Contract failed for {self.source}.{table}: {tally.rows_quarantined:,} of {tally.rows_in:,} rows "
                    f"({share:.1%}) are invalid, above quality.max_bad_share = {self.max_bad_share:.1%}. "
                    f"Nothing of it was loaded. First failures: {first_failures(tally)}",
                )


def _failures(schema, frame: pd.DataFrame, source: str, table: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bad rows of `frame` (indexed like it: _check, _column, _failure of the most telling failure,
    _failures of them all), and the rest as validated."""
    import pandera.errors

    found = []
    remaining = frame
    for _ in range(MAX_PASSES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                valid = schema.validate(remaining, lazy=True)
            break
        except pandera.errors.SchemaErrors as exc:
            cases = exc.failure_cases
        row_level = cases[cases["index"].notna()]
        if row_level.empty:
            first = cases.iloc[0]
            raise TableRefused(
                table,
                f"Contract failed for {source}.{table}: column {first['column']!r} fails {first['check']} for the whole batch. "
                "Nothing of it was loaded.",
            ) from None
        # a missing value also fails its type: name the more telling check
        rank = (
            row_level["check"].astype(str).map(lambda c: 0 if c == "not_nullable" else 2 if c.startswith(("coerce_dtype", "dtype(")) else 1)
        )
        ranked = row_level.assign(_rank=rank).sort_values("_rank", kind="stable")
        per_row = ranked.drop_duplicates("index").set_index("index")
        found.append(
            pd.DataFrame(
                {
                    "_check": per_row["check"].astype(str),
                    "_column": per_row["column"].astype(str),
                    "_failure": per_row["failure_case"].map(_text),
                    "_failures": _every_failure(ranked).reindex(per_row.index),
                },
                index=per_row.index.astype(frame.index.dtype),
            )
        )
        remaining = remaining.drop(index=per_row.index, errors="ignore")
    else:
        raise PlatformError(f"Contract check of {source}.{table} did not settle after {MAX_PASSES} passes; check the contract.")
    bad = pd.concat(found) if found else pd.DataFrame(columns=["_check", "_column", "_failure", "_failures"])
    return bad, valid


def _every_failure(cases: pd.DataFrame) -> pd.Series:
    """Per row index: every failed check as a JSON list of {check, column, value}, the most telling first."""
    every: dict[Any, list[dict]] = {}
    for index, check, column, value in zip(cases["index"], cases["check"], cases["column"], cases["failure_case"], strict=True):
        every.setdefault(index, []).append({"check": str(check), "column": str(column), "value": _text(value)})
    return pd.Series({index: json.dumps(failures) for index, failures in every.items()}, dtype=object)


def _has_types(schema, frame: pd.DataFrame) -> bool:
    """Every column of the contract is in the batch with the contract's dtype already."""
    from pandera.engines import pandas_engine

    return all(
        name in frame.columns and column.dtype is not None and column.dtype.check(pandas_engine.Engine.dtype(frame[name].dtype))
        for name, column in schema.columns.items()
    )


def _without_coercion(schema):
    uncoerced = copy.deepcopy(schema)
    uncoerced.coerce = False
    return uncoerced


def _arrow_strings(arrow_type: pa.DataType):
    """Text columns stay Arrow-backed in pandas (zero-copy; contracts declare them as TEXT)."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    return None


def _typed(item: Any, schema) -> Any:
    """Give text columns of an Arrow batch the contract's type (safe once the bad rows are out)."""
    if isinstance(item, list):
        return item
    for name, column in schema.columns.items():
        target = ARROW_TYPES.get(str(column.dtype))
        if name not in item.column_names or target is None:
            continue
        current = item.schema.field(name).type
        if pa.types.is_string(current) or pa.types.is_large_string(current) or pa.types.is_null(current):
            item = item.set_column(item.column_names.index(name), name, pc.cast(item[name], target))
    return item


def _quarantine_rows(item: Any, frame: pd.DataFrame, bad: pd.DataFrame, source_file: str | None, lines: list[int] | None) -> pa.Table:
    """The bad rows, every value as text (stable across batches), with why they were refused and where they came from."""
    positions = frame.index.get_indexer(bad.index)
    if isinstance(item, list):
        table = text_rows([item[p] for p in positions])
    else:
        table = text_columns(item.take(pa.array(positions)))
    for name in ("_check", "_column", "_failure", "_failures"):
        table = table.append_column(name, pa.array(bad[name].tolist(), pa.string()))
    table = table.append_column("_source_file", pa.array([source_file] * table.num_rows, pa.string()))
    return table.append_column(
        "_line", pa.array([lines[p] for p in positions] if lines is not None else [None] * table.num_rows, pa.int64())
    )


def text_columns(table: pa.Table) -> pa.Table:
    columns = {}
    for name in table.column_names:
        try:
            columns[name] = pc.cast(table[name], pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            columns[name] = pa.array([_text(v) for v in table[name].to_pylist()], pa.string())
    return pa.table(columns)


def text_rows(rows: list[dict]) -> pa.Table:
    """JSON rows as a table of text columns: every key of any row (a row without it holds null), a nested value as
    its JSON text."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    return pa.table({name: pa.array([_text(row.get(name)) for row in rows], pa.string()) for name in names})


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return value if isinstance(value, str) else str(value)


def first_failures(tally: TableTally, limit: int = 3) -> str:
    """The first quarantined rows' column and check, and file and line where known; never their values."""
    parts = [part.head(limit) if isinstance(part, SpilledRows) else part for part in tally.quarantined]
    rows = pa.concat_tables(parts, promote_options="permissive").slice(0, limit).to_pylist()
    return "; ".join(f"{row['_column'] + ': ' if row.get('_column') else ''}{row['_check']}{_where(row)}" for row in rows)


def _where(row: dict) -> str:
    place = [f"file {row['_source_file']}"] if row.get("_source_file") else []
    place += [f"line {row['_line']}"] if row.get("_line") is not None else []
    return f" ({', '.join(place)})" if place else ""


def record_results(meta_path: Path, guard: ContractGuard, load_id: str | None) -> None:
    """One row per table that had rows, for the health views."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    rows = [
        (now, guard.source, table, load_id, t.rows_in, t.rows_valid, t.rows_quarantined) for table, t in guard.tallies.items() if t.rows_in
    ]
    with contextlib.closing(metastore.connect(meta_path)) as con, con:
        con.executemany("INSERT INTO contract_results VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
