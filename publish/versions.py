"""Versioned table sets in the lake, behind one manifest: how the staging and curated layers are published.

A folder holds `<table>/version=<v>/...parquet` for a few versions and one
`_manifest.json` naming the current version of every table. A new version's
objects are written first, in their own folder; the manifest is replaced last,
in one step (a single PUT on S3, a rename locally), so a reader sees the old
version or the new one, never a mix. Old versions are kept for a while so that
a reader holding the previous manifest can finish; each keeps its own copy of
the manifest (`_versions/<v>.json`), so that a reader of an older version masks
the personal columns that version recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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


def new_version_id() -> str:
    """Version ids sort by time."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]


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
    """Copy every table to a new version, then switch the folder's manifest; return the version and row counts."""
    version = new_version_id()
    entries: dict[str, dict] = {}
    for table in tables:
        if not NAME.match(table.name) or not all(NAME.match(column) for column, _ in table.partitions):
            raise ValueError(f"not a table or column name: {table}")
        target = f"{folder}/{table.name}/version={version}"
        lake.make_folder(target)
        if table.partitions:
            derived = ", ".join(f"{expression} AS {column}" for column, expression in table.partitions)
            columns = ", ".join(column for column, _ in table.partitions)
            con.execute(
                f"COPY (SELECT *, {derived} FROM {table.relation}) TO {sql_literal(target)} "
                f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({columns}), FILENAME_PATTERN 'data_{{i}}')"
            )
            pattern = "/".join(["*"] * len(table.partitions) + ["*.parquet"])
        else:
            con.execute(
                f"COPY (SELECT * FROM {table.relation}) TO {sql_literal(target + '/data.parquet')} (FORMAT parquet, COMPRESSION zstd)"
            )
            pattern = "data.parquet"
        path = f"{table.name}/version={version}/{pattern}"
        [(rows,)] = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_literal(folder + '/' + path)}, hive_partitioning := false)"
        ).fetchall()
        entries[table.name] = {"path": path, "rows": rows, "partitioned_by": [column for column, _ in table.partitions]}
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
    """Delete all but the newest `keep` versions of each table, and their manifests (version names sort by time)."""
    for table_dir in lake.subfolders(folder):
        versions = [v for v in lake.subfolders(table_dir) if v.rsplit("/", 1)[-1].startswith("version=")]
        for old in versions[:-keep]:
            if not old.endswith(current):
                lake.remove_tree(old)
    records = [url for url in lake.files(f"{folder}/{VERSIONS}") if url.endswith(".json")]
    for old in records[:-keep]:
        if not old.endswith(f"/{current}.json"):
            lake.remove_tree(old)
