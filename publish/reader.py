"""Read the published marts: the one way dashboards, reports and tests see gold data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core import warehouse
from core.errors import PlatformError
from core.settings import Settings
from publish.marts import MANIFEST, PROD, marts_folder


@dataclass(frozen=True)
class Published:
    """One published version: its id, time and the Parquet file of each table."""

    version: str
    published_at: str
    files: dict[str, Path]
    rows: dict[str, int]


def current_version(settings: Settings, environment: str = PROD) -> Published | None:
    """The version the environment's manifest points at, or None before its first publish."""
    folder = marts_folder(settings, environment)
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        return Published(
            version=manifest["version"],
            published_at=manifest["published_at"],
            files={name: folder / table["path"] for name, table in manifest["tables"].items()},
            rows={name: table["rows"] for name, table in manifest["tables"].items()},
        )
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PlatformError(f"The publish manifest {path} is unreadable ({exc}); run `just run` to publish again.") from None


def connect_published(settings: Settings, environment: str = PROD) -> tuple[duckdb.DuckDBPyConnection, Published]:
    """An in-memory DuckDB with a view `marts.<table>` per published table of the environment's current version.

    The views are always in schema `marts`, whatever the environment, so one query serves all.
    """
    published = current_version(settings, environment)
    if published is None:
        hint = "run `just run` first" if environment == PROD else f"plan the `{environment}` environment first"
        raise PlatformError(f"Nothing has been published for {environment} yet: {hint}.")
    con = warehouse.connect()
    con.execute("CREATE SCHEMA marts")
    for name, file in published.files.items():
        con.execute(f"CREATE VIEW marts.{name} AS SELECT * FROM read_parquet({warehouse.sql_literal(file)})")
    return con, published
