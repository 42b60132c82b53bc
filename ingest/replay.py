"""Replay: take a landed file of a file-drop source again, once it is fixed (or its table's settings are).

A file is taken once per version (its size and modification time, or an object's ETag), so a
file rewritten in place is new and is taken by the next run anyway. Replay is for a file taken
as it is: rejected or with rows quarantined under settings that have since changed (an
encoding, a contract, `on_type_drift`, `quality.max_bad_share`). The file's rows that loaded
before load again (appended: staging keeps the latest version of each key).
"""

from __future__ import annotations

import contextlib

from core import metastore
from core.errors import PlatformError
from core.lock import writer_lock
from core.run_context import open_run
from core.settings import Settings
from core.settings_sources import FilesSource
from ingest.landing import ready_files
from ingest.pipeline import IngestResult, ingest_source


def replay_file(settings: Settings, source: str, relative: str) -> IngestResult:
    """Ingest `source` now, under the writer lock, taking the landed file `relative` (a path in its
    landing area) again; the source's other new files are taken too."""
    declared = settings.sources.get(source)
    if not isinstance(declared, FilesSource):
        kinds = ", ".join(name for name, spec in settings.sources.items() if isinstance(spec, FilesSource)) or "none declared"
        raise PlatformError(f"Replay takes a file of a file-drop source; {source!r} is not one (file-drop sources: {kinds}).")
    ready = {landed.relative for landed in ready_files(settings, source)}
    if relative not in ready:
        raise PlatformError(
            f"No ready file {relative!r} in the landing area of {source} (a path relative to it, matching a table's "
            f"pattern). Ready files: {', '.join(sorted(ready)[:10]) or 'none'}."
        )
    before = _previous_loads(settings, source, relative)
    with writer_lock(settings.data_dir, purpose=f"replay {source} {relative}", wait_seconds=settings.run.lock_wait_seconds):
        result = ingest_source(open_run(settings), source, replay=frozenset({relative}))
    if before:
        result.warnings.append(f"{source}: {relative} was loaded before (load {', '.join(before)}); its rows were appended again")
    return result


def _previous_loads(settings: Settings, source: str, relative: str) -> list[str]:
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        rows = con.execute(
            "SELECT load_id FROM landing_files WHERE source = ? AND path = ? AND status = 'loaded' AND rows > 0 ORDER BY processed_at",
            (source, relative),
        ).fetchall()
    return [load_id for (load_id,) in rows]
