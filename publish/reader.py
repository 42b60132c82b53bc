"""Read the published marts: the one way dashboards, reports, the API and tests see gold data.

Every reader states its role. For a role not in `privacy.personal_data_roles` (and for no
role at all) the views mask the personal columns of the version read (core/privacy.py): a
SQL expression over the Parquet, nothing is copied. Those are the columns that version's
manifest records and the ones the current version records, each with the strictest of their
recorded masks and today's declared masks of its source columns; so a column stays masked in
the versions published while it was declared, and a mask made stricter applies at once.
"""

from __future__ import annotations

import duckdb

from core import warehouse
from core.errors import PlatformError
from core.lake import Lake
from core.privacy import Personal, PersonalColumn, declared_masks, hash_salt, masked_select, sees_personal, strictest
from core.settings import Settings
from publish.marts import PROD, marts_folder
from publish.versions import Version, read_sql, read_version


class UnrecordedPersonal(PlatformError):
    """A version whose manifest records no personal columns: refused to every role that may not see them."""


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


def create_views(
    con: duckdb.DuckDBPyConnection, settings: Settings, published: Published, *, role: str | None, current: Published | None = None
) -> None:
    """Schema `marts` with a view per table of `published`, as `role` may see it (`current`: the version the
    manifest points at now, when `published` is an older one)."""
    con.execute("CREATE SCHEMA marts")
    for name in published.files:
        con.execute(f"CREATE VIEW marts.{name} AS {view_sql(settings, published, name, role=role, current=current, con=con)}")


def view_sql(
    settings: Settings,
    published: Published,
    table: str,
    *,
    role: str | None,
    current: Published | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> str:
    """A SELECT of one published table as `role` may see it: personal columns masked unless the role sees them.

    For an older version than `current`, `con` (with the lake attached) tells which of the current
    version's personal columns that version's table has."""
    select = read_sql(published, table)
    if sees_personal(settings, role):
        return select
    personal = masked_columns(settings, published, table, current)
    if current is not None and current.version != published.version and personal:
        if con is None:
            raise ValueError("reading an older version masked needs a connection to describe its tables")
        present = {row[0] for row in con.execute(f"DESCRIBE {select}").fetchall()}
        personal = {column: tag for column, tag in personal.items() if column in present}
    return masked_select(select, personal, hash_salt(settings)) if personal else select


def masked_columns(settings: Settings, published: Published, table: str, current: Published | None = None) -> Personal:
    """The personal columns of `published`'s `table` a reader without access sees masked: those its manifest
    records and those `current` records, each with the strictest of the recorded masks and today's declared
    masks of its source columns. Raises UnrecordedPersonal when `published` records none."""
    if published.personal is None:
        raise UnrecordedPersonal(
            f"Published version {published.version} does not record its personal columns, so it cannot be shown masked; "
            "`just run` publishes the current version again with them, and older ones are readable to roles that see personal data."
        )
    records = [published.personal.get(table, {})]
    if current is not None and current.personal is not None and current.version != published.version:
        records.append(current.personal.get(table, {}))
    declared = declared_masks(settings)
    masked: dict = {}
    for record in records:
        for column, tag in record.items():
            today = [PersonalColumn(declared[origin], (origin,)) for origin in tag.origins if origin in declared]
            masked[column] = strictest([tag, *today, *([masked[column]] if column in masked else [])])
    return masked
