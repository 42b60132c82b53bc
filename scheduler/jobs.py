"""The job list, resolved from config.yaml: one ingest job per source plus the `jobs.define` entries."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import PlatformError
from core.settings import Settings
from core.settings_operations import JobSettings

BUILTIN_TASKS = ("ingest", "transform", "publish", "monitor", "hello_world")
WRITING_TASKS = ("ingest", "transform", "publish")


@dataclass(frozen=True)
class JobSpec:
    """One job with every default applied."""

    job_id: str
    task: str
    args: dict[str, Any]
    schedule: str | None
    every_seconds: float | None
    after: tuple[str, ...]
    trigger_rule: str
    retries: int
    retry_backoff_seconds: float
    timeout_seconds: float
    writes: bool
    dependants: tuple[str, ...] = field(default=())

    def trigger(self, timezone: str = "UTC"):
        """The APScheduler trigger, or None for a job that only runs after its upstream jobs."""
        if self.every_seconds is not None:
            return IntervalTrigger(seconds=self.every_seconds, timezone=timezone)
        if self.schedule is not None:
            return CronTrigger.from_crontab(self.schedule, timezone=timezone)
        return None

    def describe_trigger(self) -> str:
        if self.every_seconds is not None:
            return f"every {self.every_seconds:g} s"
        if self.schedule is not None:
            return f"cron {self.schedule}"
        return "after " + ", ".join(self.after) + (" (any that succeeded)" if self.trigger_rule == "one_success" else "")


def job_specs(settings: Settings) -> dict[str, JobSpec]:
    """Every enabled job, validated: tasks exist, crons parse, dependencies exist and have no cycle."""
    declared: dict[str, JobSettings] = {
        f"ingest:{name}": JobSettings(task="ingest", args={"source": name}, schedule=source.schedule)
        for name, source in settings.sources.items()
    }
    for job_id, entry in settings.jobs.define.items():
        base = declared.get(job_id)
        update = entry.model_dump(exclude_unset=True)
        if "every_seconds" in update and "schedule" not in update:
            update["schedule"] = None  # an interval set for an ingest job replaces its source's cron
        declared[job_id] = base.model_copy(update=update) if base else entry
    enabled = {job_id: entry for job_id, entry in declared.items() if entry.enabled}
    specs = {job_id: _spec(settings, job_id, entry, list(enabled)) for job_id, entry in enabled.items()}
    dependants = {job_id: tuple(d for d, spec in specs.items() if job_id in spec.after) for job_id in specs}
    specs = {job_id: replace(spec, dependants=dependants[job_id]) for job_id, spec in specs.items()}
    _refuse_cycles(specs)
    return specs


def _spec(settings: Settings, job_id: str, entry: JobSettings, all_jobs: list[str]) -> JobSpec:
    where = f"config.yaml jobs.define.{job_id}"
    task = entry.task
    if task is None:
        raise PlatformError(f"{where}: `task` is missing; use one of {', '.join(BUILTIN_TASKS)} or `module:function`.")
    if task not in BUILTIN_TASKS and ":" not in task:
        raise PlatformError(f"{where}: unknown task {task!r}; use one of {', '.join(BUILTIN_TASKS)} or `module:function`.")
    if task == "ingest" and entry.args.get("source") not in settings.sources:
        raise PlatformError(f"{where}: an ingest job needs args.source, one of {', '.join(settings.sources)}.")
    if entry.schedule is not None and entry.every_seconds is not None:
        raise PlatformError(f"{where}: set `schedule` or `every_seconds`, not both.")
    after: list[str] = []
    for pattern in entry.after:
        matches = [name for name in all_jobs if fnmatch.fnmatchcase(name, pattern) and name != job_id]
        if not matches:
            raise PlatformError(f"{where}: `after` names {pattern!r}, which matches no enabled job.")
        after += [name for name in matches if name not in after]
    if entry.schedule is None and entry.every_seconds is None and not after:
        raise PlatformError(f"{where}: give it a `schedule`, `every_seconds` or `after`.")
    defaults = settings.jobs
    spec = JobSpec(
        job_id=job_id,
        task=task,
        args=dict(entry.args),
        schedule=entry.schedule,
        every_seconds=entry.every_seconds,
        after=tuple(after),
        trigger_rule=entry.trigger_rule,
        retries=defaults.retries if entry.retries is None else entry.retries,
        retry_backoff_seconds=defaults.retry_backoff_seconds if entry.retry_backoff_seconds is None else entry.retry_backoff_seconds,
        timeout_seconds=defaults.timeout_seconds if entry.timeout_seconds is None else entry.timeout_seconds,
        writes=(task in WRITING_TASKS) if entry.writes is None else entry.writes,
    )
    try:
        spec.trigger()
    except ValueError as exc:
        raise PlatformError(f"{where}: bad schedule {entry.schedule!r} ({exc}); expected 5-field cron like '0 * * * *'.") from None
    return spec


def _refuse_cycles(specs: dict[str, JobSpec]) -> None:
    state: dict[str, str] = {}

    def visit(job_id: str, path: list[str]) -> None:
        if state.get(job_id) == "done":
            return
        if state.get(job_id) == "open":
            raise PlatformError("config.yaml jobs: dependency cycle " + " -> ".join(path + [job_id]))
        state[job_id] = "open"
        for upstream in specs[job_id].after:
            visit(upstream, path + [job_id])
        state[job_id] = "done"

    for job_id in specs:
        visit(job_id, [])


def lookup(specs: dict[str, JobSpec], job_id: str) -> JobSpec:
    """The job named `job_id`, or a clear error listing the jobs there are."""
    if job_id not in specs:
        raise PlatformError(f"No job {job_id!r}. Jobs: {', '.join(sorted(specs))} (see `just jobs`).")
    return specs[job_id]
