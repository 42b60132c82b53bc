"""The built-in tasks a job can run. Each takes the settings and the job's args, returns rows in/out.

They are the stages of `just run` (pipeline/stages.py), so a scheduled, triggered or tested job
builds and publishes exactly as a run does, and prints the same warnings to the job's log.
Heavy imports (dlt, SQLMesh) happen inside the task, so a worker only pays for the task it runs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import PlatformError
from core.run_context import open_run
from core.settings import Settings

log = logging.getLogger("duckstack.jobs")


@dataclass
class TaskResult:
    rows_in: int | None = None
    rows_out: int | None = None


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", flush=True)
        log.warning(warning)


def ingest(settings: Settings, source: str) -> TaskResult:
    """Load new and changed rows of one source into the raw layer."""
    from ingest.pipeline import PartialIngest
    from pipeline import stages

    try:
        result = stages.ingest(open_run(settings), source)
    except PartialIngest as partial:  # the other tables loaded; the job fails, naming the ones that did not
        _warn(partial.result.warnings)
        raise
    _warn(result.warnings)
    return TaskResult(rows_out=result.total_rows)


def transform(settings: Settings) -> TaskResult:
    """Build prod (restating what new loads changed) and publish it, then check that the published
    marts reflect every completed load."""
    from pipeline import stages

    build, outcome = stages.build_and_publish(open_run(settings))
    _warn(build.tally.warnings)
    if outcome.reason:
        print(f"published version {outcome.version} ({outcome.reason})", flush=True)
    return TaskResult(rows_out=len(build.tally.models_built))


def publish(settings: Settings) -> TaskResult:
    """Publish prod when the published version is behind the warehouse, missing or damaged."""
    from pipeline import stages

    run = open_run(settings)
    outcome = stages.publish(run)
    waiting = stages.unreflected_loads(run)
    if waiting:
        _warn([f"{len(waiting)} completed load(s) wait for the transform job: {', '.join(waiting[:5])}"])
    return TaskResult(rows_out=sum(outcome.rows.values()) if outcome.reason else 0)


def monitor(settings: Settings) -> TaskResult:
    """Run every health check, record the results, alert on problems and recoveries."""
    from scheduler.monitor import run_checks

    results = run_checks(settings)
    return TaskResult(rows_in=len(results), rows_out=sum(1 for r in results if r.status != "ok"))


def hello_world(settings: Settings) -> TaskResult:
    """The demo job: proves the scheduler runs, records and retries without touching data."""
    print("Hello, world from the duckstack scheduler.", flush=True)
    return TaskResult(rows_out=1)


BUILTIN: dict[str, Callable[..., TaskResult]] = {
    "ingest": ingest,
    "transform": transform,
    "publish": publish,
    "monitor": monitor,
    "hello_world": hello_world,
}


def resolve(task: str) -> Callable[..., TaskResult | dict | None]:
    """A built-in task by name, or `package.module:function`."""
    if task in BUILTIN:
        return BUILTIN[task]
    module_name, _, function = task.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise PlatformError(f"Task {task!r} cannot be loaded: {exc}") from None
