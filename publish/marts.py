"""Publish an environment's marts as Parquet under `lake://curated/marts/`, behind one manifest.

Prod publishes to `curated/marts/`; a virtual environment such as `dev` to
`curated/marts__dev/`, so that its marts can be reviewed before promotion.
Readers follow the folder's `_manifest.json`, switched atomically once a new
version is complete (publish/versions.py). Large fact tables are partitioned so
that readers filtering on time read only the months they need.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from core.lake import Lake
from core.privacy import Personal
from core.run_context import RunContext
from core.settings import Settings
from publish.versions import MANIFEST, Table, reading, write_version

__all__ = ["MANIFEST", "PROD", "PublishResult", "marts_folder", "marts_schema", "publish_marts", "record_loads"]

MART_NAME = re.compile(r"^marts\.([a-z_][a-z0-9_]*)$")
ENVIRONMENT = re.compile(r"^[a-z_][a-z0-9_]*$")
PROD = "prod"
# Marts written as hive partitions: partition column -> how it is derived from the mart's columns.
PARTITIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "fct_orders": (("order_month", "strftime(order_date, '%Y-%m')"),),
}


@dataclass
class PublishResult:
    version: str
    rows: dict[str, int]
    manifest: str


def marts_schema(environment: str = PROD) -> str:
    """Where SQLMesh puts an environment's marts: `marts` for prod, `marts__<env>` otherwise."""
    if not ENVIRONMENT.match(environment):
        raise ValueError(f"not an environment name: {environment!r}")
    return "marts" if environment == PROD else f"marts__{environment}"


def marts_folder(settings: Settings, environment: str = PROD) -> str:
    """The lake URL (local path or s3://) of an environment's published marts."""
    return Lake(settings).url("curated", marts_schema(environment))


def publish_marts(
    run: RunContext,
    marts: list[str],
    environment: str = PROD,
    *,
    personal: Mapping[str, Personal],
    source: duckdb.DuckDBPyConnection | None = None,
    loads: list[str] | None = None,
) -> PublishResult:
    """Copy each mart (`marts.<name>`) of `environment` to a new version, then switch the manifest.

    The marts are read from the warehouse, or from `source` (a DuckDB connection with the same relations,
    e.g. the Spark gateway's export: transform/spark_export.py). `personal` names each model's personal
    columns (`marts.<name>` -> column -> tag, transform/lineage.py); the manifest records the marts'.
    `loads`, the completed raw loads the marts reflect, is kept in the manifest."""
    settings, lake = run.settings, run.lake
    folder = marts_folder(settings, environment)
    schema = marts_schema(environment)
    tables = [
        Table(name, f"{schema}.{name}", PARTITIONS.get(name, ()), dict(personal.get(f"marts.{name}", {})))
        for name in map(_table_name, marts)
    ]
    with reading(lake, settings.warehouse_path, source) as con:
        version, rows = write_version(
            lake,
            con,
            folder,
            tables,
            extra={"environment": environment, **({"loads": loads} if loads is not None else {})},
            keep=settings.run.publish_keep_versions,
        )
    return PublishResult(version=version, rows=rows, manifest=f"{folder}/{MANIFEST}")


def record_loads(run: RunContext, loads: list[str], environment: str = PROD) -> None:
    """Name `loads` in the current manifest without copying the marts again: for a build that found
    the new loads changed nothing, so the published tables reflect them as they are."""
    settings, lake = run.settings, run.lake
    path = f"{marts_folder(settings, environment)}/{MANIFEST}"
    manifest = json.loads(lake.read_text(path) or "{}")
    manifest["loads"] = loads
    lake.write_text_atomic(path, json.dumps(manifest, indent=2))


def _table_name(mart: str) -> str:
    match = MART_NAME.match(mart)
    if not match:
        raise ValueError(f"not a mart name: {mart!r}")
    return match.group(1)
