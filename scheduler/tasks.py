"""The built-in tasks a job can run. Each takes the settings and the job's args, returns rows in/out.

Heavy imports (dlt, SQLMesh) happen inside the task, so a worker only pays for the task it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from core import runlog
from core.errors import PlatformError
from core.settings import Settings


@dataclass
class TaskResult:
    rows_in: int | None = None
    rows_out: int | None = None


def ingest(settings: Settings, source: str) -> TaskResult:
    """Load new and changed rows of one source into the raw layer."""
    from ingest.pipeline import ingest_source

    path = settings.source_path(source)
    if settings.sources[source].kind == "sqlite" and not path.exists():
        raise PlatformError(f"Source {source!r}: {path} does not exist (for the demo shop, run `just run` or `just demo`).")
    result = ingest_source(settings, source)
    return TaskResult(rows_out=result.total_rows)


def transform(settings: Settings) -> TaskResult:
    """Build prod; staging models whose raw data changed are restated."""
    from transform.build import build_prod

    build = build_prod(settings)
    return TaskResult(rows_out=len(build.tally.models_built))


def publish(settings: Settings) -> TaskResult:
    """Publish prod's marts when the last transform built models, or when nothing is published yet."""
    from core.lake import Lake
    from publish.marts import publish_marts
    from publish.reader import current_version
    from publish.spark_export import publish_source
    from publish.versions import reading

    if current_version(settings) is not None and not runlog.produced_since_success(settings.meta_path, "publish", "transform"):
        return TaskResult(rows_out=0)
    # On the spark gateway the source is Spark's Parquet; else the DuckDB warehouse.
    with publish_source(settings) as source:
        if source is None and not settings.warehouse_path.exists():
            raise PlatformError(f"No warehouse at {settings.warehouse_path}: run the transform job first.")
        with reading(Lake(settings), settings.warehouse_path, source) as con:
            names = con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
            ).fetchall()
        if not names:
            raise PlatformError("The warehouse has no marts yet: run the transform job first.")
        result = publish_marts(settings, [f"marts.{name}" for (name,) in names], source=source)
    return TaskResult(rows_out=sum(result.rows.values()))


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
