"""Which plan each source kind makes for a load."""

from __future__ import annotations

from core.run_context import RunContext
from ingest.contracts import ContractGuard
from ingest.files import landing_plan
from ingest.landing import LandedFile
from ingest.plan import SourcePlan


def source_plan(
    run: RunContext,
    name: str,
    guard: ContractGuard,
    known_types: dict[str, dict[str, str]],
    files: list[LandedFile] | None = None,
    again: frozenset[str] = frozenset(),
) -> SourcePlan:
    """known_types: table -> column -> dlt data type already in the lake (file drops check new files against it).
    files: the landed files of this load (file drops, ingest/files.py `landing_rounds`); again: those of them
    taken before, to take again."""
    settings = run.settings
    kind = settings.sources[name].kind
    if kind in ("sqlite", "postgres"):
        from ingest.sql_database import table_resources

        return SourcePlan(table_resources(run, name))
    if kind == "rest_api":
        from ingest.rest_api import endpoint_resources

        return SourcePlan(endpoint_resources(settings, name))
    return landing_plan(settings, name, guard, known_types, files or [], again)
