"""Recovery: `just doctor` checks the lake, the raw files, the warehouse, the published versions, the
run log and the lock, says what is wrong in plain words and repairs what it can; `just reingest`
reads one source (or one table) again whole from its source."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from core import erasure_list, erasures, runlog, warehouse
from core.errors import PlatformError
from core.lock import describe_holder, holder, writer_lock
from core.run_context import RunContext, open_run
from core.settings import Settings
from core.settings_sources import FilesSource
from ingest.pipeline import IngestResult
from ingest.raw_manifest import missing_raw_files
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
    """Check everything a run depends on; with `repair`, read again from its source every raw table
    that lost or damaged a file, move a damaged warehouse aside, and build and publish again where
    the published marts are missing, damaged or behind the completed loads."""
    run = open_run(settings)
    findings = [_run_log(settings, repair), _lock(settings)]
    findings += [Finding(check.what, check.ok, "" if check.ok else check.fix) for check in verify_lake(settings)]
    lost = _lost_raw(run)
    findings += lost.findings
    lists = _erasure_lists(run)
    findings += [finding for finding, _ in lists]
    warehouse_ok, warehouse_detail = _warehouse(settings)
    findings.append(Finding(f"warehouse {settings.warehouse_path}", warehouse_ok, warehouse_detail))
    reason = stages.publish_reason(run)
    missing = stages.unreflected_loads(run)
    findings.append(Finding("published marts and staging", reason is None or reason == "a build has not been published yet", reason or ""))
    findings.append(
        Finding("published marts reflect every completed load", not missing, f"{len(missing)} load(s) not reflected" if missing else "")
    )
    repairs = [(finding, fix) for finding, fix in lists if fix is not None]
    if not repair or (warehouse_ok and reason is None and not missing and not lost.targets and not repairs):
        return findings
    if lost.by_hand:
        raise PlatformError(
            f"Raw files of {', '.join(lost.by_hand)} are missing or unreadable and cannot be read again from a source: "
            "put the files of those tables in their landing folders again under new names, then run `just run`."
        )
    waiting = lambda current: report(f"waiting for the writer lock ({describe_holder(current)})")
    with (
        runlog.record(settings.meta_path, "doctor"),
        writer_lock(settings.data_dir, purpose="doctor", wait_seconds=settings.run.lock_wait_seconds, on_wait=waiting),
    ):
        for finding, fix in repairs:  # before any reingest: it applies the list
            findings.append(Finding(f"repair: {finding.what}", True, fix()))
        if warehouse_ok and reason is None and not missing and not lost.targets:
            return findings
        if not warehouse_ok:
            aside = settings.warehouse_path.with_name(f"{settings.warehouse_path.name}.damaged-{dt.datetime.now():%Y%m%dT%H%M%S}")
            os.replace(settings.warehouse_path, aside)
            report(f"moved the damaged warehouse aside to {aside}; rebuilding it from the raw layer")
        for source, tables in lost.targets.items():
            report(f"reading {', '.join(f'{source}.{table}' for table in tables)} again whole from the source")
            _read_again(run, source, tables)
            findings.append(Finding(f"repair: reingested {', '.join(f'{source}.{table}' for table in tables)}", True, ""))
        report("building and publishing prod")
        _, outcome = stages.build_and_publish(run)
        findings.append(Finding("repair: built and published", True, f"version {outcome.version}"))
    return findings


@dataclass
class _LostRaw:
    """Raw files missing or unreadable: the findings, the tables to read again per source, and what only the user can put back."""

    findings: list[Finding]
    targets: dict[str, list[str]]
    by_hand: list[str]


def _lost_raw(run: RunContext) -> _LostRaw:
    settings = run.settings
    lost = _LostRaw([], {}, [])
    gone = [(m.url, m.source, m.table, "missing, though a completed load wrote it") for m in missing_raw_files(run)]
    damaged = [(url, *target.split(".", 1), f"unreadable ({error})") for url, target, error in damaged_raw_files(run)]
    for url, source, table, problem in gone + damaged:
        declared = settings.sources[source]
        tables = [table] if table else list(declared.tables)
        target = f"{source}.{table}" if table else source
        if isinstance(declared, FilesSource):
            lost.by_hand += [target] if target not in lost.by_hand else []
            fix = "a file-drop source: put its files in the landing folder again under new names"
        else:
            lost.targets.setdefault(source, [])
            lost.targets[source] += [name for name in tables if name not in lost.targets[source]]
            fix = f"the repair reads {target} again from the source (as `just reingest {target}` does)"
        lost.findings.append(Finding(f"raw file {url}", False, f"{problem}; {fix}"))
    return lost


def _erasure_lists(run: RunContext) -> list[tuple[Finding, Callable[[], str] | None]]:
    """Per source with personal columns: whether its erasure list is whole in the metadata store and
    in the lake's copy, and the repair that makes it so (None: nothing to do, or nothing doctor can do)."""
    checked: list[tuple[Finding, Callable[[], str] | None]] = []
    settings, lake = run.settings, run.lake
    for source in [name for name in settings.sources if erasure_list.has_personal(settings, name)]:
        what = f"erasure list of {source}"
        try:
            erasure_list.erasure_list(run, source)
        except PlatformError as exc:
            checked.append((Finding(what, False, str(exc)), None))
            continue
        lacking = erasure_list.missing_from_store(run, source)
        if lacking:
            detail = f"{lacking} erased key(s) of the lake's copy are missing from the metadata store; the repair restores them"
            checked.append((Finding(what, False, detail), functools.partial(_restore_list, run, source)))
        elif erasure_list.read_copy(lake, source) is None and erasures.erased_keys(settings.meta_path, source):
            detail = f"its copy {erasure_list.copy_url(lake, source)} is missing; the repair writes it from the metadata store"
            checked.append((Finding(what, False, detail), functools.partial(_write_list, run, source)))
        else:
            checked.append((Finding(what, True, ""), None))
    return checked


def _restore_list(run: RunContext, source: str) -> str:
    return f"restored {erasure_list.restore(run, source)} erased key(s) from the lake's copy"


def _write_list(run: RunContext, source: str) -> str:
    erasure_list.write_copy(run, source)
    return "wrote the lake's copy from the metadata store"


def reingest(settings: Settings, source: str, table: str | None = None, report: Report = lambda line: None) -> dict[str, int]:
    """Read `source` (or one of its tables) again whole: its raw files (and quarantine) are replaced by a new
    load (a file drop's: every landed file of the table again, one load per file in landing order), then
    the next build compares every key of it with staging. Returns rows loaded per table."""
    if source not in settings.sources:
        raise PlatformError(f"No source {source!r}; declared: {', '.join(settings.sources)}.")
    declared = settings.sources[source]
    if table is not None and table not in declared.tables:
        raise PlatformError(f"Source {source!r} has no table {table!r}; declared: {', '.join(declared.tables)}.")
    waiting = lambda current: report(f"waiting for the writer lock ({describe_holder(current)})")
    with (
        runlog.record(settings.meta_path, f"reingest:{source}"),
        writer_lock(settings.data_dir, purpose=f"reingest {source}", wait_seconds=settings.run.lock_wait_seconds, on_wait=waiting),
    ):
        run = open_run(settings)
        result = _read_again(run, source, [table] if table else list(declared.tables))
        stages.build_and_publish(run)
    return result.rows


def _read_again(run: RunContext, source: str, tables: list[str]) -> IngestResult:
    """Read `tables` of `source` again whole; the source's other tables catch up as in any run."""
    result = stages.ingest(run, source, reload=tables)
    if set(tables) != set(run.settings.sources[source].tables):
        stages.ingest(run, source)
    return result


def _run_log(settings: Settings, repair: bool) -> Finding:
    if not repair:
        orphans = runlog.orphans(settings.meta_path)
        detail = f"{orphans} run(s) shown as running whose process is gone; the repair marks them interrupted" if orphans else ""
        return Finding(f"run log {settings.meta_path}", True, detail)
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
