"""Operator actions behind the `just` recipes: setup, reload, reset, clean, and what `just status` shows."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from core import envfile, metastore, runlog
from core.errors import PlatformError
from core.lake import LAYERS
from core.lock import lock_path
from core.privacy import SALT_FILE
from core.settings import Settings
from core.settings_sources import SqliteSource
from scheduler import alerts, services, store
from scheduler.jobs import job_specs
from scheduler.service import lock_path as scheduler_lock_path
from scheduler.service import running_scheduler

RESET_TABLES = ("job_runs", "alerts", "monitor_results", "scheduled_jobs")


def setup(settings: Settings, report: Callable[[str], None]) -> None:
    """Create `.env` from `.env.example` and the data folders, owner-only (also when they exist); safe to run again."""
    env, example = settings.project_dir / ".env", settings.project_dir / ".env.example"
    if env.exists():
        report(f"{env} exists; left as it is (owner-only)")
    elif example.exists():
        shutil.copyfile(example, env)
        report(f"created {env} from {example.name}; fill in the secrets you need")
    envfile.owner_only(env)
    folders = [settings.lake_root / layer for layer in LAYERS]
    folders += [settings.data_dir / name for name in ("logs", "run", "sources")]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    envfile.owner_only(settings.data_dir)
    report(f"data folders ready under {settings.data_dir}, readable by their owner only")


def reload(settings: Settings, report: Callable[[str], None]) -> None:
    """Ask the running scheduler to re-read config.yaml (SIGHUP); without one, update the job store directly."""
    specs = job_specs(settings)  # a bad config is refused here, before the service sees it
    alerts.check_channels(settings)
    holder = running_scheduler(settings.data_dir)
    if holder and holder.get("pid"):
        os.kill(int(holder["pid"]), signal.SIGHUP)
        report(f"asked the scheduler (pid {holder['pid']}) to reload config.yaml; see `just logs`")
        return
    with store.opened(settings) as scheduler:
        changes = store.sync_jobs(scheduler, specs, settings)
    report("no scheduler running; job store updated: " + ("; ".join(changes) or "no changes"))


def reset(settings: Settings, report: Callable[[str], None]) -> None:
    """Wipe the run history, alerts, monitor results and the scheduler's job store (not the data)."""
    if running_scheduler(settings.data_dir):
        raise PlatformError("The scheduler is running: `just stop` first, then reset.")
    store.store_path(settings).unlink(missing_ok=True)
    if settings.meta_path.exists():
        with contextlib.closing(metastore.connect(settings.meta_path)) as con, con:
            for table in RESET_TABLES:
                con.execute(f"DELETE FROM {table}")
    report("run history, alerts, monitor results and scheduler state wiped")


def clean(settings: Settings, report: Callable[[str], None]) -> None:
    """Stop the services, then delete what the platform wrote in the data folder (lake, warehouse,
    metadata, logs, the demo source...); anything else there is left, and named."""
    services.stop(settings, report)
    if running_scheduler(settings.data_dir):
        raise PlatformError("A scheduler still runs on this data folder (not started by `just start`); stop it first.")
    data = settings.data_dir
    if not data.is_dir():
        report(f"nothing to remove: {data} does not exist")
        return
    written = written_by_platform(settings)
    written += [entry for entry in data.iterdir() if entry.name.startswith(WRITTEN_PREFIXES)]
    for path in written:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        for parent in path.parents:  # a folder left empty by the removal (`sources/` of the demo source)
            if parent == data or not parent.is_relative_to(data) or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()
    left = sorted(entry.name for entry in data.iterdir())
    if left:
        report(f"removed what the platform wrote in {data}; left what it did not write: {', '.join(left)}")
        return
    data.rmdir()
    report(f"removed {data}")


# Files beside the warehouse and the stores: DuckDB's and SQLite's journals, a warehouse moved aside by `just doctor`.
WRITTEN_PREFIXES = ("warehouse.duckdb", "meta.db", "scheduler.db")


def written_by_platform(settings: Settings) -> list[Path]:
    """What the platform writes in the data folder, as the paths to delete. The landing folders and the
    declared SQLite sources are the user's; the demo source is generated."""
    from pipeline.stages import PENDING_MARKER
    from transform.lineage import CACHE_FILE

    data = settings.data_dir
    paths = [settings.lake_root, data / settings.reports.snapshot]
    if isinstance(settings.sources.get(settings.demo.source), SqliteSource):
        demo = settings.source_path(settings.demo.source)
        paths += [demo, demo.with_name(demo.name + "-journal")]
    paths += [data / name for name in ("dlt", "sqlmesh-cache", "spark", "logs", "run", "minio", CACHE_FILE, SALT_FILE, PENDING_MARKER)]
    paths += [lock_path(data), scheduler_lock_path(data)]
    return [path for path in paths if path.is_relative_to(data) and path != data]


def job_overview(settings: Settings) -> list[dict]:
    """Per job: its trigger, last run (status, age) and next run, for `just status` and `just jobs`."""
    specs = job_specs(settings)
    latest = runlog.latest_per_job(settings.meta_path)
    planned = {row["job_id"]: row for row in store.snapshot(settings.meta_path)}
    now = dt.datetime.now(dt.UTC)
    rows = []
    for job_id, spec in specs.items():
        last = latest.get(job_id, {})
        snap = planned.get(job_id, {})
        rows.append(
            {
                "job": job_id,
                "trigger": spec.describe_trigger(),
                "retries": spec.retries,
                "timeout_s": spec.timeout_seconds,
                "writes": spec.writes,
                "last_status": last.get("status", "never run"),
                "last_age": age(now, last.get("started_at")),
                "last_error": last.get("error") or "",
                "next_run": "paused" if snap.get("paused") else _next_run(spec, snap.get("next_run_at"), now),
            }
        )
    return rows


def _next_run(spec, stored: str | None, now: dt.datetime) -> str:
    """The store's next run, or (before the scheduler first ran) what the trigger says."""
    if stored:
        return stored[:19].replace("T", " ")
    trigger = spec.trigger()
    upcoming = trigger.get_next_fire_time(None, now) if trigger is not None else None
    return upcoming.strftime("%Y-%m-%d %H:%M:%S") if upcoming else ""


def age(now: dt.datetime, at: str | None) -> str:
    if not at:
        return ""
    seconds = (now - dt.datetime.fromisoformat(at)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"
