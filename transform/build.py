"""Build the prod environment: apply model changes, rebuild what new raw data touched, audit it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

from sqlmesh.utils.errors import SQLMeshError

from core import warehouse
from core.errors import PlatformError
from core.settings import Settings
from transform.console import PlanTally, TallyConsole
from transform.context import open_context
from transform.raw_views import create_raw_views

PROD = "prod"


@dataclass
class BuildResult:
    """What one build did to prod."""

    tally: PlanTally
    models_total: int
    marts: list[str]


def build_prod(settings: Settings, *, new_data: bool, on_model: Callable[[str, int], None] | None = None) -> BuildResult:
    """Plan and apply prod; when new raw data arrived, restate the staging models that read it.

    Blocking audits and unit tests stop the plan; the error names the model and the audit.
    """
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        create_raw_views(con, settings)
    console = TallyConsole(on_model)
    context = open_context(settings, console)
    try:
        context.plan(PROD, auto_apply=True, no_prompts=True)
        staging = sorted(name for name in context.models if _schema(name) == "staging")
        stale = [name for name in staging if context.get_model(name).name not in console.tally.models_built]
        if new_data and stale:
            context.plan(PROD, restate_models=stale, auto_apply=True, no_prompts=True, skip_tests=True)
        marts = sorted(context.get_model(name).name for name in context.models if _schema(name) == "marts")
        built_here = sum(1 for model in context.models.values() if not model.kind.is_external)
        return BuildResult(tally=console.tally, models_total=built_here, marts=marts)
    except SQLMeshError as exc:
        raise PlatformError(_failure_message(exc, console.tally)) from None
    finally:
        context.close()


def _schema(fqn: str) -> str:
    return fqn.split(".")[-2].strip('"')


def _failure_message(exc: SQLMeshError, tally: PlanTally) -> str:
    details = tally.errors + [f"unit test failed: {name}" for name in tally.tests_failed]
    lines = [f"The SQLMesh build of prod failed: {exc}"] + [f"  - {line}" for line in details]
    lines.append("Prod and the published marts are unchanged; fix the model or the data and run again.")
    return "\n".join(lines)
