"""`just erase <source>.<table> <key>`: one subject's personal data out of every layer, under the writer lock
(a composite key is named `<column>=<value>` for each of its columns).

The subject's rows keep their key and every fact not declared personal, so the marts still
reconcile; each declared personal column (`personal:` of the table in config.yaml) is erased
(core/erasures.py). The key goes on the erasure list first, so every later ingest (and
`just reingest`) erases it as it lands. The values searched for are saved before the first rewrite
(core/erasures.py), so an erasure killed at any step is completed by running it again.
docs/erasure.md is the manual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core import erasure_list, erasures
from core.errors import PlatformError
from core.lake import Lake
from core.lock import describe_holder, writer_lock
from core.run_context import open_run
from core.settings import Settings
from core.settings_sources import FilesSource, SqliteSource
from ingest.landing import landing_root
from ingest.quarantine import quarantine_url
from pipeline import stages
from pipeline.erase_files import (
    compact_duckdb,
    erase_in_file,
    erase_sqlite_values,
    erase_warehouse_tables,
    files_with_key,
    identifying_values,
    rewrite_parquet,
    written_forms,
)
from publish.snapshot import snapshot_path, write_snapshot
from publish.versions import remove_orphans
from transform.subject_columns import SubjectColumns, personal_columns

Report = Callable[[str], None]
MIN_SEARCHED = 4  # characters


@dataclass
class ErasureResult:
    """What one erasure rewrote: counts per layer (as recorded), files it could not clean, and what the
    operator must know of the published marts after it (a load that arrived before it and awaits its build)."""

    target: str
    key: str
    rewritten: dict[str, int] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def erase(settings: Settings, target: str, key: str | Sequence[str], report: Report = lambda line: None) -> ErasureResult:
    """Erase the personal columns of the row `key` of `target` (`source.table`) in every layer: `key` is the
    value of a one-column key, or `<column>=<value>` for each column of a composite key."""
    source, table = _target(settings, target)
    spec = settings.sources[source].tables[table]
    key = subject(spec.key_columns, target, [key] if isinstance(key, str) else list(key))
    named = _named(spec.key_columns, key)
    key_columns = spec.key_columns
    personal = list(spec.personal)
    run = open_run(settings)
    lake = run.lake
    raw = lake.parquet_glob("raw", source, table)
    quarantined = quarantine_url(lake, source, table) + "/*.parquet"
    result = ErasureResult(target, key)
    waiting = lambda holder: report(f"waiting for the writer lock ({describe_holder(holder)})")
    with writer_lock(settings.data_dir, purpose=f"erase {target}", wait_seconds=settings.run.lock_wait_seconds, on_wait=waiting):
        identifying = identifying_values(lake, [raw, quarantined], key_columns, [key], personal)
        raw_files = files_with_key(lake, raw, key_columns, [key])
        quarantine_files = files_with_key(lake, quarantined, key_columns, [key])
        if not raw_files and not quarantine_files and key not in erasures.erased_keys(settings.meta_path, source).get(table, []):
            raise PlatformError(
                f"No row with {named} in the raw layer of {target} (nor its quarantine): nothing to erase. "
                "Check the key; a subject not loaded yet cannot be erased."
            )
        erasure_id = erasures.begin(settings.meta_path, source, table, key)
        erasure_list.write_copy(run, source)  # the list survives the loss of the metadata store
        # A rerun after a kill reads the values again from what the first run saved: the layers are already erased.
        identifying |= erasures.saved_values(settings.data_dir, erasure_id)
        erasures.save_values(settings.data_dir, erasure_id, identifying)
        report(f"saved the {len(identifying)} value(s) to search for until the erasure is finished")
        # Free text is searched for values long enough not to match inside unrelated words, in every written form.
        searched = written_forms(value for value in identifying if len(value) >= MIN_SEARCHED)
        counts = result.rewritten
        keys = [key]
        counts["raw rows"] = sum(rewrite_parquet(url, key_columns, keys, personal, lake) for url in raw_files)
        report(f"raw: erased {counts['raw rows']} row(s) in {len(raw_files)} file(s)")
        q_columns = [*personal, "_failure", "_failures"]
        counts["quarantine rows"] = sum(rewrite_parquet(url, key_columns, keys, q_columns, lake) for url in quarantine_files)
        report(f"quarantine: erased {counts['quarantine rows']} row(s)")
        counts["dlt working files"] = _dlt_files(settings, source, table, key_columns, keys, personal)
        report(f"dlt working folder: rewrote {counts['dlt working files']} file(s)")

        models = personal_columns(settings, source, table, key_columns, personal)
        report(f"models carrying personal columns of {target}: {', '.join(sorted(models)) or 'none'}")
        if settings.warehouse_path.exists():
            tables = erase_warehouse_tables(settings.warehouse_path, models, keys, identifying)
            counts["warehouse rows"] = sum(tables.values())
            counts["warehouse tables"] = len(tables)
            compact_duckdb(settings.warehouse_path)
            report(f"warehouse: erased {counts['warehouse rows']} row(s) in {len(tables)} table(s); rewrote the database file")
        # A warehouse `just doctor` moved aside is not read again: removed rather than searched.
        damaged = sorted(settings.warehouse_path.parent.glob(f"{settings.warehouse_path.name}.damaged-*"))
        for path in damaged:
            path.unlink()
        if damaged:
            counts["damaged warehouse copies removed"] = len(damaged)
            report(f"removed {len(damaged)} damaged warehouse copy(ies) moved aside by `just doctor`")
        orphans = _remove_orphans(settings, lake)
        if orphans:
            report(f"removed {orphans} version folder(s) a killed publish left")
        counts["published rows"], counts["published files"] = _published(settings, lake, source, models, keys, identifying)
        report(f"published staging and marts: erased {counts['published rows']} row(s) in {counts['published files']} file(s)")
        if settings.warehouse_path.exists():
            # A version's files were thought immutable: readers and HTTP caches (ETags) key on its id. A new one says they changed.
            version = stages.publish(run, force=True).version
            report(f"published version {version} from the erased warehouse")
            try:
                stages.check_published(run)
            except PlatformError as exc:  # the erasure holds; the marts still owe those loads their build
                result.warnings.append(str(exc))
        counts["metadata store cells"] = erase_sqlite_values(settings.meta_path, searched, skip=("erasures",))
        report(f"metadata store: erased {counts['metadata store cells']} value(s)")
        if snapshot_path(settings).exists():  # after the store: the snapshot copies its run log
            write_snapshot(settings)
            counts["report snapshot"] = 1
            report("report snapshot: written again from the erased published version and metadata store")
        _sweep(settings, lake, searched, result, keep=erasures.values_path(settings.data_dir, erasure_id))
        report(f"other files: rewrote {counts['other files rewritten']}, removed {counts['cache files removed']}")
        erasures.drop_values(settings.data_dir, erasure_id)
        erasures.finish(settings.meta_path, erasure_id, counts)
    return result


def subject(columns: list[str], target: str, parts: list[str]) -> str:
    """The subject's key as the erasure list keeps it (core/erasures.py), from the command line's parts: the
    value of a one-column key (`17`, or `id=17`), or `<column>=<value>` once for each column of a composite key."""
    if len(columns) == 1:
        if len(parts) != 1:
            raise PlatformError(f"{target} has a one-column key ({columns[0]}): name one value, e.g. 17; got {len(parts)}.")
        return parts[0].removeprefix(f"{columns[0]}=")
    example = " ".join(f"{column}=<value>" for column in columns)
    named = dict(part.partition("=")[::2] for part in parts if "=" in part)
    if len(parts) != len(columns) or len(named) != len(parts) or set(named) != set(columns):
        raise PlatformError(f"{target} has a composite key ({', '.join(columns)}): name each column's value once, as {example}.")
    return erasures.subject_key(columns, [named[column] for column in columns])


def _named(columns: list[str], key: str) -> str:
    """`id = '17'`, or `order_id = '5' and line = '2'` for a composite key, as messages name a subject."""
    return " and ".join(f"{column} = {part!r}" for column, part in zip(columns, erasures.key_parts(columns, key), strict=True))


def _target(settings: Settings, target: str) -> tuple[str, str]:
    source, dot, table = target.partition(".")
    if not dot or not source or not table:
        raise PlatformError(f"Name the table as <source>.<table>, e.g. shop.customers; got {target!r}.")
    if source not in settings.sources:
        raise PlatformError(f"No source {source!r} in config.yaml; declared: {', '.join(settings.sources)}.")
    tables = settings.sources[source].tables
    if table not in tables:
        raise PlatformError(f"Source {source!r} has no table {table!r}; declared: {', '.join(tables)}.")
    if not tables[table].personal:
        with_personal = [f"{source}.{name}" for name, spec in tables.items() if spec.personal]
        raise PlatformError(
            f"{target} declares no personal columns (`personal:` under sources.{source}.tables.{table} in config.yaml): "
            f"nothing to erase. Tables with personal columns: {', '.join(with_personal) or 'none'}."
        )
    return source, table


def _dlt_files(settings: Settings, source: str, table: str, key: list[str], keys: list[str], personal: list[str]) -> int:
    """dlt's copies of the table's files in its working folder (extracted, normalized and loaded packages)."""
    working = settings.data_dir / "dlt" / f"ingest_{source}"
    rewritten = 0
    for path in sorted(working.rglob(f"{table}.*.parquet")) if working.exists() else []:
        rewritten += 1 if rewrite_parquet(str(path), key, keys, personal) else 0
    return rewritten


def _published(
    settings: Settings, lake: Lake, source: str, models: dict[str, SubjectColumns], keys: list[str], values: set[str]
) -> tuple[int, int]:
    """Every retained version of the published staging tables and marts, of every environment; a model
    without a key column is erased where it holds one of the identifying `values`, as in the warehouse."""
    rows = files = 0
    candidates: list[tuple[str, SubjectColumns]] = []
    for model, carried in models.items():
        schema, _, name = model.partition(".")
        if schema == "staging" and name.startswith(f"stg_{source}__"):
            folder = lake.url("staging", source, name.removeprefix(f"stg_{source}__"))
            candidates += [(url, carried) for url in lake.files(folder) if url.endswith(".parquet")]
        elif schema == "marts":
            for folder in lake.subfolders(lake.url("curated")):
                if Path(folder).name == "marts" or Path(folder).name.startswith("marts__"):
                    candidates += [(url, carried) for url in lake.files(f"{folder}/{name}") if url.endswith(".parquet")]
    for url, carried in candidates:
        erased = rewrite_parquet(url, carried.key, keys, carried.personal, lake, values)
        rows, files = rows + erased, files + (1 if erased else 0)
    return rows, files


def _remove_orphans(settings: Settings, lake: Lake) -> int:
    """Version folders of the published staging and marts that a killed publish left (never current)."""
    folders = [lake.url("staging", source) for source in settings.sources]
    folders += [f for f in lake.subfolders(lake.url("curated")) if Path(f).name == "marts" or Path(f).name.startswith("marts__")]
    return sum(len(remove_orphans(lake, folder)) for folder in folders)


def _sweep(settings: Settings, lake: Lake, values: set[str], result: ErasureResult, keep: Path) -> None:
    """Any other file of the lake or the data folder holding one of the values: text rewritten, caches removed, the rest
    reported; but `keep`, the erasure's own saved values."""
    counts = result.rewritten
    counts["other files rewritten"] = counts["cache files removed"] = 0
    # The sources themselves are not the platform's to change: an operational database, or the files dropped.
    sources = {str(settings.source_path(name)) for name, spec in settings.sources.items() if isinstance(spec, SqliteSource)}
    landings = tuple(landing_root(settings, name) for name, spec in settings.sources.items() if isinstance(spec, FilesSource))
    skipped = {str(settings.warehouse_path), str(settings.meta_path), str(keep), *sources}
    local = [
        (str(path), None)
        for path in sorted(settings.data_dir.rglob("*"))
        if path.is_file() and path.suffix not in (".parquet", ".duckdb") and not _in_lake(settings, lake, path)
    ]
    in_lake = [
        (url, lake) for layer in ("raw", "staging", "curated") for url in lake.files(lake.url(layer)) if not url.endswith(".parquet")
    ]
    for url, where in [*local, *in_lake]:
        if url in skipped or (landings and url.startswith(landings)):
            continue
        outcome = erase_in_file(url, values, where)
        if outcome == "rewritten":
            counts["other files rewritten"] += 1
        elif outcome == "removed":
            counts["cache files removed"] += 1
        elif outcome == "left":
            result.left.append(url)


def _in_lake(settings: Settings, lake: Lake, path: Path) -> bool:
    return lake.backend == "local" and settings.lake_root in path.parents
