"""Which plan each source kind makes for a load."""

from __future__ import annotations

from core.errors import PlatformError
from core.run_context import RunContext
from ingest.contracts import ContractGuard
from ingest.files import FileDrops
from ingest.plan import SourcePlan


def source_plan(
    run: RunContext,
    name: str,
    guard: ContractGuard,
    known_types: dict[str, dict[str, str]],
    drops: FileDrops | None = None,
    mixed: frozenset[str] = frozenset(),
    left_out: frozenset[str] = frozenset(),
) -> SourcePlan:
    """known_types: table -> column -> dlt data type already in the lake (file drops check new files against it).
    drops: the files of a file-drop source still to take (ingest/files.py); the plan takes the next load's.
    mixed: SQLite tables to read with values of another type than their column's in variant columns.
    left_out: a SQL source's tables not to read (their load failed on their own)."""
    settings = run.settings
    kind = settings.sources[name].kind
    if kind in ("sqlite", "postgres"):
        from ingest.sql_database import table_resources

        resources, unique_keys, shared_keys = table_resources(run, name, mixed, left_out)
        return SourcePlan(resources, unique_keys=unique_keys, shared_keys=shared_keys)
    if kind == "rest_api":
        from ingest.rest_api import endpoint_resources

        return SourcePlan(endpoint_resources(settings, name))
    if drops is None:
        raise PlatformError(f"Source '{name}' is a file drop: its load needs the files to take.")
    return drops.plan(guard, known_types)
