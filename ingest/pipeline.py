"""Run the ingestion of one declared source into `lake://raw/<source>/<table>/`."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.libs.pyarrow import UnsupportedArrowTypeException
from dlt.common.schema.exceptions import DataValidationError
from dlt.common.storages.load_package import PackageStorage

from core.erasure_list import erasure_list, secure_copy
from core.errors import PartialFailure, PlatformError, TableRefused
from core.run_context import RunContext
from core.settings_sources import FilesSource, PostgresSource, SqliteSource
from ingest.contracts import ContractGuard, record_results
from ingest.file_keys import VARIANT
from ingest.files import FileDrops
from ingest.guarded import failed_in, failure_message, guard_resources, is_store_failure, root_cause, schema_changes
from ingest.quarantine import SpilledRows, drop_earlier_quarantine, write_quarantine
from ingest.raw_manifest import missing_raw_files, record_raw_files, refuse_missing
from ingest.sources import source_plan

RAW_LAYOUT = "{table_name}/{load_id}.{file_id}.{ext}"
# what a file's values can make dlt or the Parquet writer fail with (UnsupportedArrowTypeException: a duration column)
CONTENT_FAULTS = (
    pa.ArrowException,
    ValueError,
    TypeError,
    OverflowError,
    KeyError,
    IndexError,
    UnicodeError,
    UnsupportedArrowTypeException,
)


@dataclass
class IngestResult:
    """Rows loaded per table by one pipeline run (empty when nothing changed)."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    load_ids: list[str] = field(default_factory=list)
    rows_in: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    discarded: dict[str, int] = field(default_factory=dict)
    new_columns: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failed_tables: dict[str, str] = field(default_factory=dict)  # table -> why nothing of it loaded (the others did)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class PartialIngest(PartialFailure):
    """A database's or API's load that took every table but the ones whose own rows failed it: loud, not a
    success. `result` holds what did load."""

    def __init__(self, result: IngestResult) -> None:
        self.result = result
        failed = "; ".join(result.failed_tables.values())
        super().__init__(
            f"Loading {result.source} failed for {', '.join(f'{result.source}.{t}' for t in result.failed_tables)}; "
            f"its other tables loaded. {failed}"
        )


def ingest_source(run: RunContext, name: str, *, reload: list[str] | None = None, replay: frozenset[str] = frozenset()) -> IngestResult:
    """Load new and changed rows of source `name` as Parquet into the raw layer.

    Every batch passes the table's pandera contract (bad rows to quarantine) and the
    source's dlt schema contract. A refused load leaves raw and dlt's state as they were.
    `reload` names tables to read again whole: their raw files, quarantine and incremental state are
    dropped and replaced by this load (and no other table is loaded); of a file-drop source, every
    landed file of the table is taken again. `replay` names files of a file-drop source to take
    again, although they were taken before. A file-drop source loads its files in landing order, a file
    that holds a key of an earlier file of the run in a later load than that file's: a later file's
    rows carry a later load id, so the latest version of a key is the one of the latest load.
    """
    settings, lake = run.settings, run.lake
    source = settings.sources[name]
    refuse_missing(settings, f"Loading {name}", missing_raw_files(run, [name], except_tables=tuple(reload or ())))
    _one_line_dlt_errors()
    # Staging reads only completed loads; the load id in every row is how it knows.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    # batches of differing layouts (files of one table) go to separate files instead of failing
    dlt.config["data_writer.arrow_concat_promote_options"] = "default"
    pipeline = _pipeline(run, name)
    settle_interrupted_handovers(Path(pipeline.working_dir))
    with pipeline.destination_client() as client:
        client.initialize_storage()  # raw/<source>/ as dlt makes it, so the erasure list's copy can go there first
    secure_copy(run, name)  # before a load can land in raw, even the one a killed run left pending
    if pipeline.has_pending_data:  # a run that stopped half-way: finish it first, as `pipeline.run` would
        pipeline.normalize()
        pipeline.load().raise_on_failed_jobs()
    before = _columns(pipeline)
    result = IngestResult(source=name)
    drops = FileDrops(settings, name, replay, reload) if isinstance(source, FilesSource) else None
    result.warnings += drops.warnings if drops is not None else []
    index = 0
    mixed: set[str] = set()  # SQLite tables read again with values of another type in variant columns
    while index == 0 or (drops is not None and not drops.done):
        known = _columns(pipeline)
        known_types = {table: columns for table, columns in known.items() if reload is None or table not in reload or index > 0}
        left_out = frozenset(result.failed_tables)
        try:
            _load_once(
                run, pipeline, name, result, known_types, drops, reload, frozenset(mixed), left_out, refresh=bool(reload) and index == 0
            )
        except PlatformError as failure:
            if (table := _mixed_types_table(source, failure, mixed)) is not None:
                mixed.add(table)
                pipeline = _pipeline(run, name)  # its state as the last completed load left it
                continue
            # A database's or API's table whose own rows failed the load is left out, and the others load without it.
            if drops is None and reload is None and (table := _table_at_fault(failure, set(source.tables) - left_out)) is not None:
                result.failed_tables[table] = str(failure)
                if len(result.failed_tables) == len(source.tables):
                    raise _every_table_failed(name, result.failed_tables) from failure
                pipeline = _pipeline(run, name)
                continue
            if drops is None or not _a_content_fault(failure):
                raise
            pipeline = _pipeline(run, name)  # its state as the last completed load left it
            rejected = drops.reject_failed(str(failure).removeprefix(f"Loading {name} failed"), _failed_load_id(pipeline))
            if rejected is None and drops.one_at_a_time:
                raise
            if rejected is None:  # the files of the failed load are taken again one at a time, to find the one it failed on
                drops = FileDrops(settings, name, replay, reload, one_at_a_time=True)
            else:
                result.warnings.append(rejected)
            continue
        index += 1
    for table in reload or ():  # what was quarantined from the table's earlier loads was taken again too
        drop_earlier_quarantine(lake, name, table, result.load_ids)
    for table in sorted(mixed):
        variants = ", ".join(c for c in _columns(pipeline).get(table, {}) if VARIANT in c)
        why = (
            "values of another type than their column declares (SQLite keeps any value in any column)"
            if isinstance(source, SqliteSource)
            else "values that Arrow cannot hold (an infinite date or timestamp, a NaN NUMERIC)"
        )
        result.warnings.append(
            f"{name}.{table}: holds {why}: each is loaded into its column's variant ({variants}), the column NULL in that row"
        )
    result.new_columns = schema_changes(before, _columns(pipeline))
    for table, columns in result.new_columns.items():
        result.warnings.append(f"{name}.{table}: new columns {', '.join(columns)}")
    if result.failed_tables:
        raise PartialIngest(result)
    return result


def _pipeline(run: RunContext, name: str) -> dlt.Pipeline:
    """The source's dlt pipeline, attached with the state its last completed load left."""
    return dlt.pipeline(
        pipeline_name=f"ingest_{name}",
        destination=run.lake.dlt_destination("raw", RAW_LAYOUT),
        dataset_name=name,
        pipelines_dir=str(run.settings.data_dir / "dlt"),
    )


def _a_content_fault(failure: PlatformError) -> bool:
    """Whether a failed load failed on what its rows hold (a value or type that dlt or the Parquet writer cannot take),
    rather than on the store, a schema contract or the platform's own refusal."""
    cause = root_cause(failure.__cause__) if failure.__cause__ is not None else failure
    return (
        isinstance(cause, CONTENT_FAULTS)
        and not isinstance(cause, (PlatformError, DataValidationError, OSError, MemoryError))
        and not is_store_failure(cause)
    )


def _table_at_fault(failure: PlatformError, loading: set[str]) -> str | None:
    """The table among `loading` whose own rows failed the load: refused by its contract
    (pandera's or dlt's schema contract) or holding a value the load cannot take. None when the failure is the
    source's or the store's (a connection, a timeout), or names no table."""
    cause = root_cause(failure.__cause__) if failure.__cause__ is not None else failure
    if isinstance(cause, TableRefused):
        table = cause.table
    elif isinstance(cause, DataValidationError):
        table = cause.table_name
    elif (_a_content_fault(failure) or _endpoint_refused(cause)) and failure.__cause__ is not None:
        table = failed_in(failure.__cause__)[0]
    else:
        return None
    return table if table in loading else None


def _endpoint_refused(cause: BaseException) -> bool:
    """An API's answer that refuses one endpoint (404 gone, 400 bad request, 403 forbidden), not the whole API
    (401 unauthorized, 407, 408 timeout, 429 too many requests)."""
    status = getattr(getattr(cause, "response", None), "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (401, 407, 408, 429)


def _every_table_failed(source: str, failed: dict[str, str]) -> PlatformError:
    """Nothing of the source loaded: one table's failure as it is, or every table's."""
    if len(failed) == 1:
        return PlatformError(next(iter(failed.values())))
    return PlatformError(
        f"Loading {source} failed: each of its tables failed its load, so nothing of it loaded. {'; '.join(failed.values())}"
    )


def _mixed_types_table(source, failure: PlatformError, mixed: set[str]) -> str | None:
    """The SQL table whose load failed on a value its column's type cannot take (`read_again_split`), if the table
    was not read with such values set aside already."""
    if not isinstance(source, (SqliteSource, PostgresSource)) or failure.__cause__ is None:
        return None
    from ingest.sql_database import read_again_split

    table = failed_in(failure.__cause__)[0]
    if table in source.tables and table not in mixed and read_again_split(source, failure.__cause__):
        return table
    return None


def _failed_load_id(pipeline: dlt.Pipeline) -> str:
    trace = pipeline.last_trace
    extracted = trace.last_extract_info if trace is not None else None
    return extracted.loads_ids[-1] if extracted is not None and extracted.loads_ids else ""


def _load_once(
    run: RunContext,
    pipeline: dlt.Pipeline,
    name: str,
    result: IngestResult,
    known_types: dict[str, dict[str, str]],
    drops: FileDrops | None,
    reload: list[str] | None,
    mixed: frozenset[str],
    left_out: frozenset[str],
    *,
    refresh: bool,
) -> None:
    """One dlt load (of a file-drop source: the next files of its `drops`) of every table but `left_out`, its tallies
    and warnings added to `result`."""
    settings, lake = run.settings, run.lake
    source = settings.sources[name]
    contracts = {table: spec.pandera or f"{name}__{table}" for table, spec in source.tables.items()}
    erased = erasure_list(run, name)
    erasure = {
        table: (spec.key_columns, erased[table], [*spec.personal, "_failure", "_failures"])
        for table, spec in source.tables.items()
        if spec.personal and erased.get(table)
    }
    guard = ContractGuard(name, contracts, enabled=source.quality.enabled, max_bad_share=source.quality.max_bad_share, erasure=erasure)
    try:
        plan = source_plan(run, name, guard, known_types, drops, mixed, left_out)
        resources = [r for r in plan.resources if (reload is None or r.name in reload) and r.name not in left_out]
        guard_resources(resources, source, guard, checked=plan.checked, unique_keys=plan.unique_keys, shared_keys=plan.shared_keys)
        pipeline.extract(resources, loader_file_format="parquet", refresh="drop_resources" if refresh else None)
        if not plan.checked:  # a file drop's files were held to the share one by one
            guard.enforce_share()
        pipeline.normalize()
        info = pipeline.load()
        info.raise_on_failed_jobs()
    except Exception as exc:
        pipeline.abort_packages()
        store = settings.lake.s3.endpoint_url if settings.lake.backend == "s3" else None
        raise failure_message(name, exc, store) from exc

    trace = pipeline.last_trace
    assert trace is not None and trace.last_extract_info is not None, "the extract above left its trace"
    load_id = info.loads_ids[0] if info.loads_ids else trace.last_extract_info.loads_ids[0]
    normalize = trace.last_normalize_info
    rows = {table: count for table, count in (normalize.row_counts if normalize else {}).items() if count and not table.startswith("_dlt")}
    for table, count in rows.items():
        result.rows[table] = result.rows.get(table, 0) + count
    result.load_ids += info.loads_ids
    for table, tally in guard.tallies.items():
        result.rows_in[table] = result.rows_in.get(table, 0) + tally.rows_in
        result.batches[table] = result.batches.get(table, 0) + tally.batches
        result.quarantined[table] = result.quarantined.get(table, 0) + tally.rows_quarantined
        dropped = tally.rows_valid - rows.get(table, 0)
        if dropped > 0 and tally.rows_valid:
            result.discarded[table] = result.discarded.get(table, 0) + dropped
            result.warnings.append(f"{name}.{table}: {dropped:,} rows discarded by the schema contract")
        where = write_quarantine(lake, name, table, tally.quarantined, load_id)
        for part in tally.quarantined:
            if isinstance(part, SpilledRows):
                part.drop()
        if where:
            result.warnings.append(f"{name}.{table}: {tally.rows_quarantined:,} invalid rows quarantined at {where}")
    result.warnings += plan.warnings
    if guard.uncovered and not any(w.startswith(f"{name}: no pandera contract") for w in result.warnings):
        result.warnings.append(f"{name}: no pandera contract for {', '.join(guard.uncovered)} (audits/contracts/)")
    record_results(settings.meta_path, guard, load_id)
    plan.after_load(load_id)
    record_raw_files(run, name)


class _NoTraceback(logging.Filter):
    """dlt logs a failed load job with its traceback (attached, and inside the message); keep the message's
    head and the exception's own line: the platform reports the failure once, in one message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        message = record.getMessage()
        head, marker, trace = message.partition("Traceback (most recent call last):")
        if marker:
            lines = [line.strip() for line in trace.splitlines() if line.strip()]
            record.msg, record.args = head + (lines[-1] if lines else ""), None
        return True


def _one_line_dlt_errors() -> None:
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _NoTraceback) for f in dlt_logger.filters):
        dlt_logger.addFilter(_NoTraceback())


def settle_interrupted_handovers(working_dir: Path) -> list[str]:
    """Finish what a run killed inside one of dlt's package hand-overs left half-done; return the load ids.

    dlt commits a normalized package by renaming `load/new/<id>` to `load/normalized/<id>`, and
    only then deletes the extracted copy in `normalize/extracted/<id>`. Killed in between, the
    next run would normalize the copy again and fail on every later run ("Directory not
    empty"). The committed package is complete (a rename is atomic): it wins, the copies go.
    A loaded package gets its completed marker (after its load was committed in raw), then moves
    from `load/normalized` to `load/loaded`. Killed in between, dlt would take it for pending and
    refuse to complete it again on every later run: the move is made here.
    """
    load = working_dir / "load"
    settled = []
    for marked in sorted((load / "normalized").glob(f"*/{PackageStorage.PACKAGE_COMPLETED_FILE_NAME}")):
        package = marked.parent
        package.rename(load / "loaded" / package.name)
        settled.append(package.name)
    committed = {p.name for folder in ("normalized", "loaded") for p in (load / folder).glob("*")}
    for load_id in sorted(committed):
        for leftover in (working_dir / "normalize" / "extracted" / load_id, load / "new" / load_id):
            if leftover.is_dir():
                shutil.rmtree(leftover)
                settled.append(load_id)
    return settled


def _columns(pipeline) -> dict[str, dict[str, str]]:
    """table -> column -> dlt data type, of what the pipeline loaded so far."""
    try:
        schema = pipeline.default_schema
    except Exception:  # no schema before the first run
        return {}
    return {
        name: {column: _column_type(spec) for column, spec in table.get("columns", {}).items()}
        for name, table in schema.tables.items()
        if not name.startswith("_dlt")
    }


def _column_type(column: Mapping[str, Any]) -> str:
    """A column's dlt data type ("" while dlt has none); a decimal's with its precision and scale (`decimal(38,18)`),
    which a later file's numbers are cast to."""
    kind = column.get("data_type") or ""
    if kind == "decimal" and column.get("precision") is not None:
        return f"decimal({column['precision']},{column.get('scale') or 0})"
    return kind
