"""Which resources a source kind contributes to a load, and what to do once the load is done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.settings import Settings
from ingest.contracts import ContractGuard


@dataclass
class SourcePlan:
    """The dlt resources of one run, and a hook called with the load id once it completed."""

    resources: list
    after_load: Callable[[str], None] = lambda load_id: None


def source_plan(settings: Settings, name: str, guard: ContractGuard) -> SourcePlan:
    kind = settings.sources[name].kind
    if kind in ("sqlite", "postgres"):
        from ingest.sql_database import table_resources

        return SourcePlan(table_resources(settings, name))
    if kind == "rest_api":
        from ingest.rest_api import endpoint_resources

        return SourcePlan(endpoint_resources(settings, name))
    from ingest.files import landing_plan

    return landing_plan(settings, name, guard)
