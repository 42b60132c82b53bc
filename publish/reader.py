"""Read the published marts: the one way dashboards, reports, the API and tests see gold data.

Every reader states its role. For a role not in `privacy.personal_data_roles` (and for no
role at all) the views mask the personal columns the version's manifest records
(core/privacy.py): a SQL expression over the Parquet, nothing is copied.
"""

from __future__ import annotations

import duckdb

from core import warehouse
from core.errors import PlatformError
from core.lake import Lake
from core.privacy import hash_salt, masked_select, sees_personal
from core.settings import Settings
from publish.marts import PROD, marts_folder
from publish.versions import Version, read_sql, read_version

# One published version: `.version`, `.published_at`, `.files` (table -> Parquet URL or glob), `.rows`, `.personal`.
Published = Version


def current_version(settings: Settings, environment: str = PROD) -> Published | None:
    """The version the environment's manifest points at, or None before its first publish."""
    return read_version(Lake(settings), marts_folder(settings, environment))


def connect_published(
    settings: Settings, environment: str = PROD, *, role: str | None = None
) -> tuple[duckdb.DuckDBPyConnection, Published]:
    """An in-memory DuckDB with a view `marts.<table>` per published table of the environment's current version.

    The views are always in schema `marts`, whatever the environment, so one query serves all.
    Personal columns are masked unless `role` may see them. On the s3 backend the connection
    carries the lake's secret, in memory only.
    """
    published = current_version(settings, environment)
    if published is None:
        hint = "run `just run` first" if environment == PROD else f"plan the `{environment}` environment first"
        raise PlatformError(f"Nothing has been published for {environment} yet: {hint}.")
    con = Lake(settings).attach(warehouse.connect())
    try:
        create_views(con, settings, published, role=role)
    except BaseException:
        con.close()
        raise
    return con, published


def create_views(con: duckdb.DuckDBPyConnection, settings: Settings, published: Published, *, role: str | None) -> None:
    """Schema `marts` with a view per table of `published`, as `role` may see it."""
    con.execute("CREATE SCHEMA marts")
    for name in published.files:
        con.execute(f"CREATE VIEW marts.{name} AS {view_sql(settings, published, name, role=role)}")


def view_sql(settings: Settings, published: Published, table: str, *, role: str | None) -> str:
    """A SELECT of one published table as `role` may see it: personal columns masked unless the role sees them."""
    select = read_sql(published, table)
    if sees_personal(settings, role):
        return select
    if published.personal is None:
        raise PlatformError(
            f"Published version {published.version} does not record its personal columns, so it cannot be shown masked; "
            "`just run` publishes it again with them."
        )
    personal = published.personal.get(table, {})
    return masked_select(select, personal, hash_salt(settings)) if personal else select
