"""The landing area of a file-drop source: which files are ready, which were taken, and a sensor.

A file is ready once nothing has written to it for `settle_seconds` (its mtime is at
least that old), so a copy in progress is never taken half-done. Writers that can
should write `name.tmp` (or `.name`) and rename when done: names starting with `.` or
`_` and names ending in `.tmp`, `.part` or `.partial` are never taken. Each file is
recorded in `landing_files` in the metadata store with what became of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import time
from dataclasses import dataclass
from pathlib import Path

from core import runlog
from core.errors import PlatformError
from core.settings import FilesSource, Settings

IGNORED_SUFFIXES = (".tmp", ".part", ".partial")

SCHEMA = """
CREATE TABLE IF NOT EXISTS landing_files (
    source       TEXT NOT NULL,
    table_name   TEXT NOT NULL,
    path         TEXT NOT NULL,   -- relative to the source's landing folder
    fingerprint  TEXT NOT NULL,   -- size:mtime_ns; a file replaced under the same name is new
    status       TEXT NOT NULL,   -- loaded | rejected
    rows         INTEGER,
    rows_quarantined INTEGER,
    reason       TEXT,
    load_id      TEXT,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (source, path, fingerprint)
);
"""


@dataclass(frozen=True)
class LandedFile:
    """A ready file of one declared table."""

    table: str
    path: Path
    relative: str
    fingerprint: str
    size: int


def ready_files(settings: Settings, name: str, *, now: float | None = None) -> list[LandedFile]:
    """Every settled file that matches a table's pattern, oldest first (taken or not)."""
    source = settings.sources[name]
    if not isinstance(source, FilesSource):
        raise PlatformError(f"Source '{name}' is of kind {source.kind}, not files: it has no landing area.")
    root = settings.landing_path(name)
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or _ignored(relative):
            continue
        stat = path.stat()
        if now - stat.st_mtime < source.settle_seconds:
            continue
        table = next((t for t, spec in source.tables.items() if fnmatch.fnmatch(relative, spec.pattern)), None)
        if table is not None:
            found.append(LandedFile(table, path, relative, f"{stat.st_size}:{stat.st_mtime_ns}", stat.st_size))
    return sorted(found, key=lambda f: (f.path.stat().st_mtime_ns, f.relative))


def _ignored(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/")) or relative.endswith(IGNORED_SUFFIXES)


def processed(meta_path: Path, name: str) -> set[tuple[str, str]]:
    """(path, fingerprint) of every file already loaded or rejected."""
    with contextlib.closing(runlog.connect(meta_path)) as con:
        con.executescript(SCHEMA)
        rows = con.execute("SELECT path, fingerprint FROM landing_files WHERE source = ?", (name,)).fetchall()
    return {(path, fingerprint) for path, fingerprint in rows}


def new_files(settings: Settings, name: str) -> list[LandedFile]:
    """Ready files that were never taken."""
    done = processed(settings.meta_path, name)
    return [f for f in ready_files(settings, name) if (f.relative, f.fingerprint) not in done]


def record(meta_path: Path, name: str, rows: list[tuple]) -> None:
    """rows: (table, relative path, fingerprint, status, rows, rows_quarantined, reason, load_id)."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    with contextlib.closing(runlog.connect(meta_path)) as con, con:
        con.executescript(SCHEMA)
        con.executemany(
            "INSERT OR REPLACE INTO landing_files (source, table_name, path, fingerprint, status, rows, rows_quarantined, "
            "reason, load_id, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(name, *row, now) for row in rows],
        )


def wait_for_files(settings: Settings, name: str, *, timeout_seconds: float, poll_seconds: float = 5.0) -> list[LandedFile]:
    """Sensor: block until new ready files arrive in the landing area, or the timeout passes.

    Returns the new files (empty on timeout), so a scheduler can run the ingestion only
    when there is something to take.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        files = new_files(settings, name)
        if files or time.monotonic() >= deadline:
            return files
        time.sleep(max(0.0, min(poll_seconds, deadline - time.monotonic())))
