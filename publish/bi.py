"""A DuckDB database file per role for BI tools: the published marts that role may read, masked as it sees them.

`data_dir/bi/<role>.duckdb` holds, in schema `marts`, a table per mart of the current published
version that the role may read (`api.marts`), copied with personal columns masked unless the
role is in `privacy.personal_data_roles`, and in `main.published_version` the version it holds.
A BI tool (Superset, Metabase, DBeaver) opens the file read only and needs no access to the
lake: the masking is in the data, not in a view a reader could go around. Every publish
rewrites the files of the roles in `api.bi_roles`, each written beside its final place and
switched with `os.replace`, so a reader opens the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

from core import warehouse
from core.run_context import RunContext
from core.settings import Settings
from publish.marts import marts_folder
from publish.reader import Published, view_sql
from publish.versions import read_version


def bi_path(settings: Settings, role: str) -> Path:
    return settings.data_dir / "bi" / f"{role}.duckdb"


def write_bi_databases(run: RunContext, published: Published | None = None) -> dict[str, Path]:
    """Write the file of every role in `api.bi_roles` from `published` (the current version by default)."""
    settings = run.settings
    published = published or read_version(run.lake, marts_folder(settings))
    if published is None or not settings.api.bi_roles:
        return {}
    return {role: _write(run, published, role) for role in settings.api.bi_roles}


def _write(run: RunContext, published: Published, role: Literal["business", "operator"]) -> Path:
    settings = run.settings
    target = bi_path(settings, role)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    allowed = settings.api.marts.get(role)
    try:
        with contextlib.closing(run.lake.attach(warehouse.connect(tmp))) as con:
            con.execute("CREATE SCHEMA marts")
            for name in sorted(published.files):
                if allowed is None or name in allowed:
                    con.execute(f"CREATE TABLE marts.{name} AS {view_sql(settings, published, name, role=role)}")
            con.execute(
                "CREATE TABLE main.published_version AS SELECT ? AS version, ? AS published_at, ? AS role",
                [published.version, published.published_at, role],
            )
            con.execute("CHECKPOINT")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
