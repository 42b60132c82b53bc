"""`just run`: source → ingest → transform and audit → publish, under the writer lock."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core import runlog
from core.errors import PlatformError
from core.lock import describe_holder, writer_lock
from core.run_context import RunContext, open_run
from core.settings import Settings
from demo.shop import generate
from ingest.pipeline import PartialIngest
from pipeline import stages
from publish.marts import marts_folder
from transform.context import check_gateway, warehouse_location

# (stage, message, done, total): how the pipeline reports progress to whoever displays it.
Events = Callable[[str, str, int | None, int | None], None]


def _silent(stage: str, message: str, done: int | None = None, total: int | None = None) -> None:
    pass


@dataclass
class RunSummary:
    """What one end-to-end run did, for the closing report."""

    generated_source: dict[str, int] | None = None
    rows_loaded: dict[str, dict[str, int]] = field(default_factory=dict)
    models_built: list[str] = field(default_factory=list)
    models_total: int = 0
    audits_passed: int = 0
    tests_run: int = 0
    warnings: list[str] = field(default_factory=list)
    published_version: str | None = None
    publish_reason: str | None = None  # why a new version was published; None: the current one was up to date
    published_rows: dict[str, int] = field(default_factory=dict)
    failed_sources: dict[str, str] = field(default_factory=dict)  # source -> why its load failed (nothing of it loaded)
    failed_tables: dict[str, str] = field(default_factory=dict)  # `source.table` -> why nothing of it loaded (the rest did)
    staging_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class PartialRun(PlatformError):
    """A run that built and published every other load while some sources' or tables' loads failed: loud, not a
    success (`just run` prints the summary, then this, and exits 1)."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        failed = _failures(summary)
        super().__init__(
            f"Loading failed for {', '.join(_failed(summary))}; the marts (version {summary.published_version}) hold "
            f"every other load, and none of theirs since their last load that completed. {failed}"
        )


def _failed(summary: RunSummary) -> list[str]:
    """The sources and `source.table`s whose load failed."""
    return [*summary.failed_sources, *summary.failed_tables]


def _failures(summary: RunSummary) -> str:
    return "; ".join(f"{name}: {why}" for name, why in (summary.failed_sources | summary.failed_tables).items())


@contextlib.contextmanager
def _stage(summary: RunSummary, settings: Settings, name: str, job: str) -> Iterator[runlog.JobRun]:
    started = time.perf_counter()
    try:
        with runlog.record(settings.meta_path, job) as run:
            yield run
    finally:
        summary.seconds[name] = summary.seconds.get(name, 0.0) + time.perf_counter() - started


def run_all(settings: Settings, events: Events = _silent) -> RunSummary:
    """Run every stage once; each is recorded in the run log. Raises PlatformError on expected failures.

    A source whose load fails does not stop the others: they load, build and publish, and then PartialRun names
    the failed ones (the marts hold every load that completed, and the run says loudly which did not). When
    every source's load fails, the first failure is raised as it is, before anything is built."""
    check_gateway(settings)
    summary = RunSummary()
    waiting = lambda holder: events("lock", f"waiting for the writer lock ({describe_holder(holder)})", None, None)
    with writer_lock(settings.data_dir, purpose="just run", wait_seconds=settings.run.lock_wait_seconds, on_wait=waiting):
        run = open_run(settings)
        lake = run.lake
        events("lake", f"checking the lake's {settings.lake.backend} storage", None, None)
        lake.ensure_layers()
        demo_path = settings.source_path(settings.demo.source) if settings.demo.source in settings.sources else None
        if demo_path is not None and not demo_path.exists():
            events("source", f"generating the demo shop at scale {settings.demo.scale:g}", None, None)
            with _stage(summary, settings, "source", f"generate:{settings.demo.source}") as job:
                summary.generated_source = generate(
                    demo_path,
                    seed=settings.demo.seed,
                    scale=settings.demo.scale,
                    start_date=settings.demo.start_date,
                    history_days=settings.demo.history_days,
                )
                job.rows_out = sum(summary.generated_source.values())

        first_failure: PlatformError | None = None
        for name in settings.sources:
            events("ingest", f"loading new and changed rows of {name}", None, None)
            try:
                with _stage(summary, settings, "ingest", f"ingest:{name}") as job:
                    result = stages.ingest(run, name)
                    job.rows_out = result.total_rows
            except PartialIngest as partial:  # the source's other tables loaded: they are built and published
                result = partial.result
                summary.failed_tables |= {f"{name}.{table}": why for table, why in result.failed_tables.items()}
                events("ingest", f"loading {name} failed for {', '.join(result.failed_tables)}; the rest goes on", None, None)
            except PlatformError as exc:
                first_failure = first_failure or exc
                summary.failed_sources[name] = str(exc)
                events("ingest", f"loading {name} failed; the other sources go on", None, None)
                continue
            summary.rows_loaded[name] = result.rows
            summary.warnings.extend(result.warnings)
        if first_failure is not None and len(summary.failed_sources) == len(settings.sources):
            raise first_failure

        try:
            _build_and_publish(run, summary, events)
        except PlatformError as exc:
            if not _failed(summary):
                raise
            failed = _failures(summary)
            raise PlatformError(f"{exc}\nBefore that, loading failed for {', '.join(_failed(summary))}: {failed}") from exc

    summary.outputs = {
        "raw lake": lake.url("raw"),
        "staging lake": lake.url("staging"),
        "warehouse": warehouse_location(settings),
        "published marts": marts_folder(settings),
        "run log": str(settings.meta_path),
    }
    if _failed(summary):
        raise PartialRun(summary)
    return summary


def _build_and_publish(run: RunContext, summary: RunSummary, events: Events) -> None:
    settings = run.settings
    events("transform", "planning prod", 0, None)
    with _stage(summary, settings, "transform", "transform") as job:
        on_model = lambda model, total: events("transform", f"built {model}", None, total)
        build = stages.transform(run, on_model=on_model)
        job.rows_out = len(build.tally.models_built)
    summary.models_built = sorted(build.tally.models_built)
    summary.models_total = build.models_total
    summary.audits_passed = build.tally.audits_passed
    summary.tests_run = build.tally.tests_run
    summary.warnings.extend(build.tally.warnings)

    events("publish", "publishing the marts", None, None)
    with _stage(summary, settings, "publish", "publish") as job:
        outcome = stages.publish(run)
        job.rows_out = sum(outcome.rows.values()) if outcome.reason else 0
        stages.check_published(run)
    summary.published_version, summary.published_rows = outcome.version, outcome.rows
    summary.publish_reason = outcome.reason
    summary.staging_rows = outcome.staging_rows
