"""Recovery: `just doctor` checks the lake, the raw files, the warehouse, the published versions, the
run log and the lock, says what is wrong in plain words and repairs what it can; `just reingest`
reads one source (or one table) again whole from its source."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from core import runlog, warehouse
from core.errors import PlatformError
from core.lock import describe_holder, holder, writer_lock
from core.settings import Settings
from pipeline import stages
from pipeline.lake_admin import verify_lake
from pipeline.raw_files import damaged_raw_files

Report = Callable[[str], None]


@dataclass
class Finding:
    """One thing checked: what, whether it is fine, and what was done or is to be done about it."""

    what: str
    ok: bool
    detail: str = ""


def doctor(settings: Settings, *, repair: bool = True, report: Report = lambda line: None) -> list[Finding]:
    """Check everything a run depends on; with `repair`, move a damaged warehouse aside and build and
    publish again where the published marts are missing, damaged or behind the completed loads."""
    findings = [_run_log(settings), _lock(settings)]
    findings += [Finding(check.what, check.ok, "" if check.ok else check.fix) for check in verify_lake(settings)]
    damaged = damaged_raw_files(settings)
    findings += [
        Finding(f"raw file {path}", False, f"unreadable ({error}); run `just reingest {table}` to read it again from the source")
        for path, table, error in damaged
    ]
    warehouse_ok, warehouse_detail = _warehouse(settings)
    findings.append(Finding(f"warehouse {settings.warehouse_path}", warehouse_ok, warehouse_detail))
    reason = stages.publish_reason(settings)
    missing = stages.unreflected_loads(settings)
    findings.append(Finding("published marts and staging", reason is None or reason == "a build has not been published yet", reason or ""))
    findings.append(
        Finding("published marts reflect every completed load", not missing, f"{len(missing)} load(s) not reflected" if missing else "")
    )
    if repair and (not warehouse_ok or reason is not None or missing):
        if damaged:
            raise PlatformError(
                f"{len(damaged)} raw file(s) are unreadable: run `just reingest` for "
                f"{', '.join(sorted({table for _, table, _ in damaged}))} first, then `just doctor` again."
            )
        with writer_lock(settings.data_dir, purpose="doctor", wait_seconds=settings.run.lock_wait_seconds):
            if not warehouse_ok:
                aside = settings.warehouse_path.with_name(f"{settings.warehouse_path.name}.damaged-{dt.datetime.now():%Y%m%dT%H%M%S}")
                os.replace(settings.warehouse_path, aside)
                report(f"moved the damaged warehouse aside to {aside}; rebuilding it from the raw layer")
            report("building and publishing prod")
            _, outcome = stages.build_and_publish(settings)
            findings.append(Finding("repair: built and published", True, f"version {outcome.version}"))
    return findings


def reingest(settings: Settings, source: str, table: str | None = None) -> dict[str, int]:
    """Read `source` (or one of its tables) again whole: its raw files (and quarantine) are replaced by a new
    load (a file drop's: every landed file of the table again, one load per file in landing order), then
    the next build compares every key of it with staging. Returns rows loaded per table."""
    if source not in settings.sources:
        raise PlatformError(f"No source {source!r}; declared: {', '.join(settings.sources)}.")
    declared = settings.sources[source]
    if table is not None and table not in declared.tables:
        raise PlatformError(f"Source {source!r} has no table {table!r}; declared: {', '.join(declared.tables)}.")
    with writer_lock(settings.data_dir, purpose=f"reingest {source}", wait_seconds=settings.run.lock_wait_seconds):
        result = stages.ingest(settings, source, reload=[table] if table else list(declared.tables))
        if table is not None:  # the source's other tables catch up as in any run
            stages.ingest(settings, source)
        stages.build_and_publish(settings)
    return result.rows


def _run_log(settings: Settings) -> Finding:
    closed = runlog.close_orphans(settings.meta_path)
    detail = f"marked {closed} run(s) whose process was gone as interrupted" if closed else ""
    return Finding(f"run log {settings.meta_path}", True, detail)


def _lock(settings: Settings) -> Finding:
    current = holder(settings.data_dir)
    return Finding("writer lock", True, f"held: {describe_holder(current)}" if current is not None else "free")


def _warehouse(settings: Settings) -> tuple[bool, str]:
    if not settings.warehouse_path.exists():
        return True, "not built yet (the next run builds it)"
    try:
        with contextlib.closing(warehouse.connect(settings.warehouse_path, read_only=True)) as con:
            con.execute("SELECT count(*) FROM information_schema.tables").fetchone()
    except duckdb.Error as exc:
        message = (str(exc).strip().splitlines() or [""])[0][:200]
        if "lock" in message.lower():
            return True, "in use by a writer"
        return False, f"unreadable ({message}); the repair moves it aside and rebuilds it from the raw layer"
    return True, ""
