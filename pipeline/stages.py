"""The stages, defined once: ingest a source, build prod, publish its marts and staging, and check
that what is published reflects every completed load.

`just run`, every scheduler job, `just trigger` and `just test-job`, `just promote` and the
recovery commands reach the stages through these functions, so every path publishes the same way.
The callers hold the writer lock.

Whether to publish is decided from data, not from what one process remembers: a build that may
have changed prod leaves a marker in the data folder until a publish clears it, and a published
version names the completed loads its marts reflect (the warehouse's own record, read beside the
marts it copies). A missing, damaged or half-deleted published version is published again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import PlatformError
from core.run_context import RunContext
from core.settings import Settings
from ingest.pipeline import IngestResult, ingest_source
from ingest.raw_manifest import missing_raw_files, refuse_missing
from pipeline.raw_files import damaged_raw_files
from publish.bi import write_bi_databases
from publish.marts import PublishResult, marts_folder, publish_marts, record_loads
from publish.staging import current_staging, publish_staging
from publish.versions import Version, read_version, reading
from transform.build import BuildResult, build_prod
from transform.lineage import personal_columns
from transform.restatement import raw_loads
from transform.spark_export import publish_source
from transform.state import applied_loads

PENDING_MARKER = ".publish-pending"


@dataclass
class PublishOutcome:
    """What a publish did: the version now current, and why it was (re)written, or None if it was not."""

    version: str
    rows: dict[str, int]
    reason: str | None = None
    staging_rows: dict[str, dict[str, int]] = field(default_factory=dict)


def ingest(run: RunContext, source: str, *, reload: list[str] | None = None) -> IngestResult:
    """Load new and changed rows of one declared source into the raw layer (its warnings in the result);
    `reload` names tables to read again whole instead."""
    try:
        return ingest_source(run, source, reload=reload)
    except Exception as exc:
        damaged = [found for found in _damaged_files(run, [source]) if found[1].split(".")[1] not in (reload or ())]
        if not damaged:
            raise
        raise _damaged(f"Loading {source}", damaged) from exc


def transform(run: RunContext, on_model: Callable[[str, int], None] | None = None) -> BuildResult:
    """Build prod; restate what the completed loads changed. Leaves the publish marker while prod may
    differ from what is published."""
    settings = run.settings
    refuse_missing(settings, "The build of prod", missing_raw_files(run))
    owed = mark_unpublished(settings)  # before the build: one killed half-way has changed prod for all we know
    try:
        build = build_prod(run, on_model=on_model)
    except Exception as exc:
        if isinstance(exc, PlatformError) and ".parquet" not in str(exc):
            raise  # a failing audit or test: already said; no need to read every raw file
        damaged = _damaged_files(run, list(settings.sources))
        if not damaged:
            raise
        raise _damaged("The build of prod", damaged) from exc
    if not owed and not build.tally.models_built and not build.restatement.models:
        (settings.data_dir / PENDING_MARKER).unlink()
    return build


def _damaged_files(run: RunContext, sources: list[str]) -> list[tuple[str, str, str]]:
    """The damaged raw files behind a failure, if the lake can be read at all: an unreachable store
    (or anything else that stops the search) leaves the original error to speak."""
    try:
        return damaged_raw_files(run, sources)
    except Exception:  # noqa: BLE001 - the failure being explained is the one to report
        return []


def _damaged(what: str, damaged: list[tuple[str, str, str]]) -> PlatformError:
    path, table, error = damaged[0]
    tables = sorted({name for _, name, _ in damaged})
    more = f" ({len(damaged)} damaged files in all, of {', '.join(tables)})" if len(damaged) > 1 else ""
    commands = " and ".join(f"`just reingest {name}`" for name in tables)
    return PlatformError(
        f"{what} failed: the raw file {path} is damaged ({error}){more}. Run {commands} to read "
        f"{'that table' if len(tables) == 1 else 'those tables'} again from the source; what is published is unchanged."
    )


def mark_unpublished(settings: Settings) -> bool:
    """Record, durably, that prod may differ from what is published; return whether it already was."""
    marker = settings.data_dir / PENDING_MARKER
    owed = marker.exists()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return owed


def publish(run: RunContext, *, force: bool = False) -> PublishOutcome:
    """Publish prod's staging models and marts when the published version is behind the warehouse,
    missing or damaged (or when `force`); the marts' manifest, written last, names the loads they reflect."""
    settings = run.settings
    reason = "asked for" if force else publish_reason(run)
    with publish_source(settings) as source:
        if source is None and not settings.warehouse_path.exists():
            raise PlatformError(f"No warehouse at {settings.warehouse_path}: build it first (`just run`, or the transform job).")
        with reading(run.lake, settings.warehouse_path, source) as con:
            loads = applied_loads(con)
            marts = [
                f"marts.{name}"
                for (name,) in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
                ).fetchall()
            ]
        if not marts:
            raise PlatformError("The warehouse has no marts yet: build it first (`just run`, or the transform job).")
        published = _current(run)
        if reason is None and published is not None:
            # No build changed prod since this version was published: it reflects what the warehouse does.
            if list(published.loads or ()) != loads:
                record_loads(run, loads)
            return PublishOutcome(version=published.version, rows=published.rows)
        staging_rows = publish_staging(run, source=source)
        personal = personal_columns(settings)
        result: PublishResult = publish_marts(run, marts, personal=personal, source=source, loads=loads)
    write_bi_databases(run)
    (settings.data_dir / PENDING_MARKER).unlink(missing_ok=True)
    return PublishOutcome(version=result.version, rows=result.rows, reason=reason, staging_rows=staging_rows)


def publish_reason(run: RunContext) -> str | None:
    """Why the published marts or staging must be written again, or None when they are intact and no
    build is waiting to be published."""
    settings, lake = run.settings, run.lake
    try:
        marts = read_version(lake, marts_folder(settings))
        staging = {name: current_staging(run, name) for name in settings.sources}
    except PlatformError as exc:
        return f"damaged: {exc}"
    if marts is None:
        return "nothing is published yet"
    if (settings.data_dir / PENDING_MARKER).exists():
        return "a build has not been published yet"
    if marts.loads is None:
        return "the published version does not name the loads it reflects"
    if marts.personal is None:
        return "the published version does not record its personal columns"
    declared = personal_columns(settings)
    if marts.personal != {name: declared.get(f"marts.{name}", {}) for name in marts.files}:
        return "the personal columns of the marts changed (their declaration or lineage)"
    for version in [marts, *(v for v in staging.values() if v is not None)]:
        missing = [name for name, files in version.files.items() if not lake.fs.glob(files)]
        if missing:
            return f"the files of published version {version.version} are missing for {', '.join(missing)}"
    return None


def unreflected_loads(run: RunContext) -> list[str]:
    """The completed raw loads that the published marts do not reflect (`<source>/<load id>`)."""
    published = _current(run)
    reflected = set(published.loads or ()) if published is not None else set()
    return sorted(raw_loads(run).names - reflected)


def check_published(run: RunContext) -> None:
    """Fail, loudly, when the published marts miss a completed load: nothing may report success then."""
    missing = unreflected_loads(run)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise PlatformError(
            f"The published marts do not reflect {len(missing)} completed load(s): {shown}. "
            "Run `just run` to build and publish them; if it fails again, `just doctor` says what is wrong."
        )


def build_and_publish(run: RunContext, on_model: Callable[[str, int], None] | None = None) -> tuple[BuildResult, PublishOutcome]:
    """Build prod, publish it if anything changed (or is owed), and check that every completed load is reflected."""
    build = transform(run, on_model)
    outcome = publish(run)
    check_published(run)
    return build, outcome


def _current(run: RunContext) -> Version | None:
    with contextlib.suppress(PlatformError):
        return read_version(run.lake, marts_folder(run.settings))
    return None
