"""Read the published marts: the one way dashboards, reports and tests see gold data."""

from __future__ import annotations

import duckdb

from core import warehouse
from core.errors import PlatformError
from core.lake import Lake
from core.settings import Settings
from publish.marts import PROD, marts_folder
from publish.versions import Version, read_sql, read_version

# One published version: `.version`, `.published_at`, `.files` (table -> Parquet URL or glob), `.rows`.
Published = Version


def current_version(settings: Settings, environment: str = PROD) -> Published | None:
    """The version the environment's manifest points at, or None before its first publish."""
    return read_version(Lake(settings), marts_folder(settings, environment))


def connect_published(settings: Settings, environment: str = PROD) -> tuple[duckdb.DuckDBPyConnection, Published]:
    """An in-memory DuckDB with a view `marts.<table>` per published table of the environment's current version.

    The views are always in schema `marts`, whatever the environment, so one query serves all.
    On the s3 backend the connection carries the lake's secret, in memory only.
    """
    published = current_version(settings, environment)
    if published is None:
        hint = "run `just run` first" if environment == PROD else f"plan the `{environment}` environment first"
        raise PlatformError(f"Nothing has been published for {environment} yet: {hint}.")
    con = Lake(settings).attach(warehouse.connect())
    con.execute("CREATE SCHEMA marts")
    for name in published.files:
        con.execute(f"CREATE VIEW marts.{name} AS {read_sql(published, name)}")
    return con, published
