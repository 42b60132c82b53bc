"""Versioned table sets in the lake, behind one manifest: how the staging and curated layers are published.

A folder holds `<table>/version=<v>/...parquet` for a few versions and one
`_manifest.json` naming the current version of every table. A new version's
objects are written first, in their own folder; the manifest is replaced last,
in one step (a single PUT on S3, a rename locally), so a reader sees the old
version or the new one, never a mix. Old versions are kept for a while so that
a reader holding the previous manifest can finish; each keeps its own copy of
the manifest (`_versions/<v>.json`), so that a reader of an older version masks
the personal columns that version recorded.

A table whose content is the same as in the current version is not written
again: the new version's manifest names the files the current one names, in
an older `version=<v>` folder. "The same" is decided from the data: each
table's fingerprint (its columns, partitioning, row count and two
order-independent sums of row hashes, computed by DuckDB) is recorded in the
manifest, and files are shared only when the fingerprints match and the files
the current version recorded are all there. A version folder is removed only
when no retained version names it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from core import warehouse
from core.errors import PlatformError
from core.lake import Lake
from core.privacy import Personal, PersonalColumn
from core.warehouse import sql_literal

MANIFEST = "_manifest.json"
VERSIONS = "_versions"  # each retained version's own manifest, `<version>.json`
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Table:
    """One table to publish: the relation it is copied from and, optionally, `partition column -> SQL expression`
    and its personal columns (recorded in the manifest when given, for readers to mask)."""

    name: str
    relation: str
    partitions: tuple[tuple[str, str], ...] = ()
    personal: Personal | None = field(default=None, hash=False)


@dataclass(frozen=True)
class Version:
    """A published version of a folder: its id, time, and per table the Parquet glob, partition columns and rows."""

    version: str
    published_at: str
    files: dict[str, str]
    partitions: dict[str, tuple[str, ...]]
    rows: dict[str, int]
    loads: tuple[str, ...] | None = None  # the completed raw loads its tables reflect, where the publisher named them
    # per table, its personal columns; None where the publisher recorded none: readers without access then refuse it
    personal: dict[str, dict[str, PersonalColumn]] | None = field(default=None, hash=False)


ID_TIME = "%Y%m%dT%H%M%S%fZ"


def new_version_id(after: str | None = None) -> str:
    """Version ids sort by time, and after `after` (the newest id written) even when the clock went back:
    the order of ids is the order of publishes, which pruning keeps to."""
    now = dt.datetime.now(dt.UTC)
    if after is not None and now.strftime(ID_TIME) <= after.partition("-")[0]:
        now = dt.datetime.strptime(after.partition("-")[0], ID_TIME) + dt.timedelta(microseconds=1)
    return now.strftime(ID_TIME) + "-" + uuid.uuid4().hex[:6]


@contextlib.contextmanager
def reading(lake: Lake, warehouse_path: Path, source: duckdb.DuckDBPyConnection | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The connection tables are copied from: `source` when given (the caller closes it), else the warehouse, read-only."""
    if source is not None:
        yield lake.attach(source)
        return
    with contextlib.closing(lake.attach(warehouse.connect(warehouse_path, read_only=True))) as con:
        yield con


def write_version(
    lake: Lake, con: duckdb.DuckDBPyConnection, folder: str, tables: list[Table], *, extra: dict, keep: int
) -> tuple[str, dict[str, int]]:
    """Write a new version of every table whose content changed since the current version, name the current
    version's files for the others, then switch the folder's manifest; return the version and row counts.
    Version folders a killed publish left (never named by the manifest) are removed first."""
    remove_orphans(lake, folder)
    records = [url.rsplit("/", 1)[-1].removesuffix(".json") for url in lake.files(f"{folder}/{VERSIONS}")]
    version = new_version_id(after=max([*_versions(lake, folder), *records], default=None))
    current = _manifest_tables(lake, f"{folder}/{MANIFEST}") or {}
    entries: dict[str, dict] = {}
    for table in tables:
        if not NAME.match(table.name) or not all(NAME.match(column) for column, _ in table.partitions):
            raise ValueError(f"not a table or column name: {table}")
        fingerprint = _fingerprint(con, table)
        previous = current.get(table.name)
        if isinstance(previous, dict) and previous.get("fingerprint") == fingerprint and _intact(lake, folder, previous):
            entries[table.name] = {key: previous[key] for key in ("path", "rows", "files", "partitioned_by", "fingerprint")}
        else:
            entries[table.name] = {**_copy(lake, con, folder, table, version), "fingerprint": fingerprint}
        if table.personal is not None:
            entries[table.name]["personal"] = {column: tag.to_json() for column, tag in table.personal.items()}
    manifest = {"version": version, "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **extra}
    manifest["tables"] = entries
    text = json.dumps(manifest, indent=2)
    lake.make_folder(f"{folder}/{VERSIONS}")
    lake.write_text_atomic(f"{folder}/{VERSIONS}/{version}.json", text)
    lake.write_text_atomic(f"{folder}/{MANIFEST}", text)
    prune(lake, folder, keep=keep, current=version)
    return version, {name: entry["rows"] for name, entry in entries.items()}


def _copy(lake: Lake, con: duckdb.DuckDBPyConnection, folder: str, table: Table, version: str) -> dict:
    """Write one table's files into its folder of `version`, once; its manifest entry (path, rows, files, partitions)."""
    target = f"{folder}/{table.name}/version={version}"
    lake.make_folder(target)
    if table.partitions:
        derived = ", ".join(f"{expression} AS {column}" for column, expression in table.partitions)
        columns = ", ".join(column for column, _ in table.partitions)
        written = con.execute(
            f"COPY (SELECT *, {derived} FROM {table.relation}) TO {sql_literal(target)} "
            f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({columns}), FILENAME_PATTERN 'data_{{i}}', RETURN_STATS)"
        ).fetchall()
        pattern = "/".join(["*"] * len(table.partitions) + ["*.parquet"])
    else:
        written = con.execute(
            f"COPY (SELECT * FROM {table.relation}) TO {sql_literal(target + '/data.parquet')} "
            "(FORMAT parquet, COMPRESSION zstd, RETURN_STATS)"
        ).fetchall()
        pattern = "data.parquet"
    return {
        "path": f"{table.name}/version={version}/{pattern}",
        "rows": sum(int(row[1]) for row in written),
        "files": len(written),
        "partitioned_by": [column for column, _ in table.partitions],
    }


def _fingerprint(con: duckdb.DuckDBPyConnection, table: Table) -> str:
    """What a table holds, in a few bytes: its columns and types, partitioning, row count, and two order-independent
    aggregates of its rows' 64-bit hashes (their exact sum and their exclusive or). Equal fingerprints: equal content."""
    columns = con.execute(f"DESCRIBE SELECT * FROM {table.relation}").fetchall()
    shape = json.dumps([[name, kind] for name, kind, *_ in columns] + [list(partition) for partition in table.partitions])
    [(rows, total, mixed)] = con.execute(
        f"SELECT count(*), coalesce(sum(h), 0), coalesce(bit_xor(h), 0) FROM (SELECT hash(*COLUMNS(*)) AS h FROM {table.relation})"
    ).fetchall()
    return f"{hashlib.sha256(shape.encode()).hexdigest()[:16]}:{rows}:{total}:{mixed}"


def _intact(lake: Lake, folder: str, entry: dict) -> bool:
    """Whether the files a manifest entry names are all there, as many as it recorded and none empty."""
    try:
        found = lake.fs.glob(f"{folder}/{entry['path']}", detail=True)
    except FileNotFoundError:
        return False
    return isinstance(entry.get("files"), int) and len(found) == entry["files"] and all(info.get("size") for info in found.values())


def _manifest_tables(lake: Lake, where: str) -> dict | None:
    """The `tables` of a manifest as written, or None when it is missing or unreadable."""
    text = lake.read_text(where)
    try:
        tables = json.loads(text)["tables"] if text is not None else None
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return tables if isinstance(tables, dict) else None


def table_folder(files: str) -> str:
    """The `version=<v>` folder that holds a published table's files (a version may name an older version's folder)."""
    head, _, rest = files.rpartition("/version=")
    return f"{head}/version={rest.split('/', 1)[0]}"


def read_version(lake: Lake, folder: str, version_id: str | None = None) -> Version | None:
    """The version the folder's manifest points at, or None before the first publish; with `version_id`,
    that retained version as its own manifest recorded it, or None when it kept none."""
    where = f"{folder}/{MANIFEST}" if version_id is None else f"{folder}/{VERSIONS}/{version_id}.json"
    text = lake.read_text(where)
    if text is None:
        return None
    try:
        manifest = json.loads(text)
        tables = manifest["tables"]
        return Version(
            version=manifest["version"],
            published_at=manifest["published_at"],
            files={name: f"{folder}/{table['path']}" for name, table in tables.items()},
            partitions={name: tuple(table.get("partitioned_by", ())) for name, table in tables.items()},
            rows={name: table["rows"] for name, table in tables.items()},
            loads=tuple(manifest["loads"]) if isinstance(manifest.get("loads"), list) else None,
            personal=_personal(tables),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise PlatformError(
            f"The publish manifest {where} is unreadable ({type(exc).__name__}: {exc}); `just run` publishes it again from the warehouse."
        ) from None


def _personal(tables: dict) -> dict[str, dict[str, PersonalColumn]] | None:
    """Each table's personal columns; None unless every table records them."""
    if not all("personal" in table for table in tables.values()):
        return None
    return {name: {column: PersonalColumn.from_json(tag) for column, tag in table["personal"].items()} for name, table in tables.items()}


def read_sql(version: Version, table: str) -> str:
    """A SELECT of one published table with exactly its own columns.

    `version=<v>` and the partition folders look like hive partitions to DuckDB;
    only partitioned tables read them, and their path columns are left out again.
    """
    partitions = version.partitions.get(table, ())
    if not partitions:
        return f"SELECT * FROM read_parquet({sql_literal(version.files[table])}, hive_partitioning := false)"
    files = sql_literal(version.files[table])
    return f"SELECT * EXCLUDE (version, {', '.join(partitions)}) FROM read_parquet({files}, hive_partitioning := true)"


def prune(lake: Lake, folder: str, *, keep: int, current: str) -> None:
    """Keep the newest `keep` versions up to `current` (version names sort in publish order): delete the older
    versions' manifests, and every version folder that no kept version names. Nothing is deleted while a
    kept version's manifest cannot be read: then any folder may still be needed."""
    records = {url.rsplit("/", 1)[-1].removesuffix(".json"): url for url in lake.files(f"{folder}/{VERSIONS}") if url.endswith(".json")}
    kept = sorted(version for version in {*_versions(lake, folder), *records, current} if version <= current)[-keep:]
    named = _named_folders(lake, folder, [records[version] for version in kept if version in records] + [f"{folder}/{MANIFEST}"])
    if named is None:
        return
    for table_dir in lake.subfolders(folder):
        for old in _version_folders(lake, table_dir):
            version = old.rsplit("/version=", 1)[-1]
            if _named(old) not in named and version not in kept and version <= current:
                lake.remove_tree(old)
    for version, record in records.items():
        if version not in kept and version <= current:
            lake.remove_tree(record)


def remove_orphans(lake: Lake, folder: str) -> list[str]:
    """Remove the version folders that no manifest ever named: newer than the current version (a publish
    killed before its manifest switch, and its own record), or holding an empty Parquet file (unless the current
    version names it); return them. Nothing without a readable manifest: then every folder may still be needed.
    The caller holds the writer lock."""
    try:
        current = read_version(lake, folder)
    except PlatformError:
        return []
    if current is None:
        return []
    named = {_named(table_folder(files)) for files in current.files.values()}
    removed = []
    for table_dir in lake.subfolders(folder):
        for candidate in _version_folders(lake, table_dir):
            name = candidate.rsplit("/version=", 1)[-1]
            if _named(candidate) not in named and (name > current.version or _has_empty_parquet(lake, candidate)):
                lake.remove_tree(candidate)
                removed.append(candidate)
    for record in lake.files(f"{folder}/{VERSIONS}"):  # the manifest of a version killed before its switch
        if record.endswith(".json") and record.rsplit("/", 1)[-1].removesuffix(".json") > current.version:
            lake.remove_tree(record)
    return removed


def _named_folders(lake: Lake, folder: str, manifests: list[str]) -> set[tuple[str, str]] | None:
    """The version folders the given manifests name (see `_named`), or None when one of them cannot be read."""
    named: set[tuple[str, str]] = set()
    for where in manifests:
        tables = _manifest_tables(lake, where)
        if tables is None:
            return None
        try:
            named |= {_named(table_folder(f"{folder}/{table['path']}")) for table in tables.values()}
        except (KeyError, TypeError):
            return None
    return named


def _named(version_folder: str) -> tuple[str, str]:
    """A version folder as (table, version), whichever way its URL is spelled."""
    table, version = version_folder.rstrip("/").rsplit("/", 2)[-2:]
    return table, version.removeprefix("version=")


def _version_folders(lake: Lake, table_dir: str) -> list[str]:
    return [v for v in lake.subfolders(table_dir) if v.rsplit("/", 1)[-1].startswith("version=")]


def _versions(lake: Lake, folder: str) -> list[str]:
    """Every version id with a folder under `folder`."""
    return [v.rsplit("/version=", 1)[-1] for table_dir in lake.subfolders(folder) for v in _version_folders(lake, table_dir)]


def _has_empty_parquet(lake: Lake, folder: str) -> bool:
    try:
        found = lake.fs.find(folder, detail=True)
    except FileNotFoundError:
        return False
    return any(name.endswith(".parquet") and not info.get("size") for name, info in found.items())
