"""Publish an environment's marts as Parquet under `lake://curated/marts/`, behind one manifest.

Prod publishes to `curated/marts/`; a virtual environment such as `dev` to
`curated/marts__dev/`, so that its marts can be reviewed before promotion.
Readers follow the folder's `_manifest.json`. A new version's files are written
first, in their own folder; the manifest is replaced last, atomically, so a
reader sees the old version or the new one, never a mix. Old versions are kept
for a while so that a reader holding the previous manifest can finish.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from core import warehouse
from core.lake import Lake
from core.settings import Settings

MANIFEST = "_manifest.json"
MART_NAME = re.compile(r"^marts\.([a-z_][a-z0-9_]*)$")
ENVIRONMENT = re.compile(r"^[a-z_][a-z0-9_]*$")
PROD = "prod"


@dataclass
class PublishResult:
    version: str
    rows: dict[str, int]
    manifest: Path


def marts_schema(environment: str = PROD) -> str:
    """Where SQLMesh puts an environment's marts: `marts` for prod, `marts__<env>` otherwise."""
    if not ENVIRONMENT.match(environment):
        raise ValueError(f"not an environment name: {environment!r}")
    return "marts" if environment == PROD else f"marts__{environment}"


def marts_folder(settings: Settings, environment: str = PROD) -> Path:
    return Path(Lake(settings).url("curated", marts_schema(environment)))


def publish_marts(settings: Settings, marts: list[str], environment: str = PROD) -> PublishResult:
    """Copy each mart (`marts.<name>`) of `environment` to a new version folder, then switch the manifest."""
    folder = marts_folder(settings, environment)
    schema = marts_schema(environment)
    version = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    tables: dict[str, dict] = {}
    with contextlib.closing(warehouse.connect(settings.warehouse_path, read_only=True)) as con:
        for mart in marts:
            name = _table_name(mart)
            target = folder / name / f"version={version}" / "data.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY (SELECT * FROM {schema}.{name}) TO {warehouse.sql_literal(target)} (FORMAT parquet, COMPRESSION zstd)")
            rows = con.execute(f"SELECT count(*) FROM read_parquet({warehouse.sql_literal(target)})").fetchone()[0]
            tables[name] = {"path": str(target.relative_to(folder)), "rows": rows}
    manifest = {
        "version": version,
        "environment": environment,
        "published_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tables": tables,
    }
    path = folder / MANIFEST
    tmp = folder / f".{MANIFEST}.{version}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)
    _prune(folder, keep=settings.run.publish_keep_versions, current=version)
    return PublishResult(version=version, rows={k: v["rows"] for k, v in tables.items()}, manifest=path)


def _table_name(mart: str) -> str:
    match = MART_NAME.match(mart)
    if not match:
        raise ValueError(f"not a mart name: {mart!r}")
    return match.group(1)


def _prune(folder: Path, *, keep: int, current: str) -> None:
    """Delete all but the newest `keep` versions of each table (version names sort by time)."""
    for table_dir in (p for p in folder.iterdir() if p.is_dir()):
        versions = sorted(p for p in table_dir.glob("version=*") if p.is_dir())
        for old in versions[:-keep]:
            if not old.name.endswith(current):
                shutil.rmtree(old, ignore_errors=True)
