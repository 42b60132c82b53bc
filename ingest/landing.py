"""The landing area of a file-drop source: which files are ready, which were taken, and a sensor.

The landing area is a local folder (`data/landing/<source>/` on the local backend) or
a prefix of the lake (`lake://raw/landing/<source>/` on the s3 backend; `landing` may
name any `lake://<layer>/...` address or folder). A file is ready once nothing has
written to it for `settle_seconds` (its mtime, or an object's LastModified, is at
least that old), so a copy in progress is never taken half-done; on S3 an object only
appears once its upload completed (a multipart upload in progress is not listed).
Writers that can should write `name.tmp` (or `.name`) and rename when done: names
starting with `.` or `_` and names ending in `.tmp`, `.part` or `.partial` are never
taken. Each file is recorded in `landing_files` in the metadata store with what
became of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path

import fsspec

from core import metastore
from core.errors import PlatformError
from core.lake import LANDING_PREFIX, Lake
from core.settings import Settings
from core.settings_sources import FilesSource

IGNORED_SUFFIXES = (".tmp", ".part", ".partial")
CLOCK_SKEW_SECONDS = 60  # a file stamped later than this ahead of the clock: the writer's clock is ahead


@dataclass(frozen=True)
class LandedFile:
    """A ready file of one declared table: `path` is a local path or an `s3://` URL, read through `fs`."""

    table: str
    path: str
    relative: str
    fingerprint: str
    size: int
    modified: float = field(compare=False)
    fs: fsspec.AbstractFileSystem = field(compare=False, repr=False)


LAKE_SCHEME = "lake://"


def landing_root(settings: Settings, name: str) -> str:
    """Where source `name`'s files land: a local folder, or a lake address (an `s3://` URL on the s3 backend)."""
    landing = settings.source_of_kind(name, FilesSource).landing
    if landing is not None and landing.startswith(LAKE_SCHEME):
        layer, _, rest = landing[len(LAKE_SCHEME) :].strip("/").partition("/")
        return Lake(settings).url(layer, *[part for part in rest.split("/") if part])
    if landing is None and settings.lake.backend == "s3":
        return Lake(settings).url("raw", LANDING_PREFIX, name)
    return str(settings.landing_path(name))


def ready_files(settings: Settings, name: str, *, now: float | None = None) -> list[LandedFile]:
    """Every settled file that matches a table's pattern, oldest first (taken or not)."""
    landed_files, _, _ = _landed(settings, name)  # first: it names a source of another kind
    settle = settings.source_of_kind(name, FilesSource).settle_seconds
    now = time.time() if now is None else now
    return [landed for landed in landed_files if now - landed.modified >= settle]


def landing_warnings(settings: Settings, name: str, *, now: float | None = None) -> list[str]:
    """What lies in the landing area and is not loaded, with nothing else to say so: a landing folder that does not
    exist; files that match no table's pattern, or several tables' patterns; and, per table, files modified more than
    a minute in the future (the writer's clock is ahead), which are not taken until that time has passed (whether
    they are still being written cannot be told)."""
    root = landing_root(settings, name)
    if not root.startswith("s3://") and not Path(root).is_dir():
        return [
            f"{name}: the landing folder {root} does not exist, so no file can be loaded: create it, or fix the source's "
            "`landing` (a share that is not mounted?)"
        ]
    now = time.time() if now is None else now
    files, unmatched, ambiguous = _landed(settings, name)
    warnings = []
    if unmatched:
        warnings.append(
            f"{name}: {len(unmatched):,} landed file(s) match no table's pattern (first {unmatched[0]}) and are not loaded: "
            "declare their table or fix its pattern (patterns are case-sensitive)"
        )
    if ambiguous:
        first, tables = next(iter(ambiguous.items()))
        warnings.append(
            f"{name}: {len(ambiguous):,} landed file(s) match the patterns of more than one table (first {first}: "
            f"{', '.join(tables)}) and are not loaded: make the tables' patterns exclusive"
        )
    ahead: dict[str, list[LandedFile]] = {}
    for landed in files:
        if landed.modified > now + CLOCK_SKEW_SECONDS:
            ahead.setdefault(landed.table, []).append(landed)
    return warnings + [
        f"{name}.{table}: {len(waiting):,} file(s) modified up to {(waiting[-1].modified - now) / 60:,.0f} min in the future "
        f"(first {waiting[0].relative}) are not loaded until then: is the clock of the machine that writes them ahead?"
        for table, waiting in ahead.items()
    ]


def _landed(settings: Settings, name: str) -> tuple[list[LandedFile], list[str], dict[str, list[str]]]:
    """Every landed file that matches exactly one table's pattern, oldest first; the sorted paths of those that match
    none; and those that match several, with their tables (temporary and hidden names aside). A file of two tables
    is loaded into neither: the one it belongs to cannot be told."""
    source = settings.sources[name]
    if not isinstance(source, FilesSource):
        raise PlatformError(f"Source '{name}' is of kind {source.kind}, not files: it has no landing area.")
    found, unmatched, ambiguous = [], [], {}
    for relative, path, fingerprint, size, modified, fs in _listing(settings, landing_root(settings, name)):
        if _ignored(relative):
            continue
        tables = [t for t, spec in source.tables.items() if fnmatch.fnmatch(relative, spec.pattern)]
        if not tables:
            unmatched.append(relative)
        elif len(tables) > 1:
            ambiguous[relative] = tables
        else:
            found.append(LandedFile(tables[0], path, relative, fingerprint, size, modified, fs))
    return sorted(found, key=lambda f: (f.modified, f.relative)), sorted(unmatched), dict(sorted(ambiguous.items()))


def _listing(settings: Settings, root: str):
    """(relative path, path, fingerprint, size, modified epoch, filesystem) of every file below `root`."""
    if not root.startswith("s3://"):
        folder, fs = Path(root), fsspec.filesystem("file")
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                yield path.relative_to(folder).as_posix(), str(path), f"{stat.st_size}:{stat.st_mtime_ns}", stat.st_size, stat.st_mtime, fs
        return
    fs = Lake(settings).fs
    prefix = root.removeprefix("s3://").rstrip("/") + "/"
    try:
        entries = fs.find(root, detail=True)
    except FileNotFoundError:
        return
    for key, info in entries.items():
        if info.get("type") == "directory" or not key.startswith(prefix):
            continue
        modified = info["LastModified"].timestamp()
        etag = str(info.get("ETag", "")).strip('"')
        # an object replaced under the same name has a new ETag (and LastModified): it is a new file
        yield key[len(prefix) :], f"s3://{key}", f"{info['size']}:{etag or int(modified * 1e9)}", int(info["size"]), modified, fs


def _ignored(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/")) or relative.endswith(IGNORED_SUFFIXES)


def processed(meta_path: Path, name: str) -> set[tuple[str, str]]:
    """(path, fingerprint) of every file already loaded or rejected."""
    with contextlib.closing(metastore.connect(meta_path)) as con:
        rows = con.execute("SELECT path, fingerprint FROM landing_files WHERE source = ?", (name,)).fetchall()
    return {(path, fingerprint) for path, fingerprint in rows}


def in_landing_order(meta_path: Path, name: str, files: list[LandedFile]) -> list[LandedFile]:
    """`files` in landing order: those taken before first, in the order of their latest taking (a file dropped after
    another was taken lands after it, whatever its modification time), then the new ones by modification time, then name."""
    with contextlib.closing(metastore.connect(meta_path)) as con:
        rows = con.execute(
            "SELECT path, fingerprint, max(processed_at), max(load_id) FROM landing_files WHERE source = ? GROUP BY path, fingerprint",
            (name,),
        ).fetchall()
    taken = {(path, fingerprint): (False, processed_at, load_id) for path, fingerprint, processed_at, load_id in rows}
    never = (True, "", "")
    return sorted(files, key=lambda f: (*taken.get((f.relative, f.fingerprint), never), f.modified, f.relative))


def new_files(settings: Settings, name: str) -> list[LandedFile]:
    """Ready files that were never taken."""
    done = processed(settings.meta_path, name)
    return [f for f in ready_files(settings, name) if (f.relative, f.fingerprint) not in done]


def record(meta_path: Path, name: str, rows: list[tuple]) -> None:
    """rows: (table, relative path, fingerprint, status, rows, rows_quarantined, reason, load_id)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    with contextlib.closing(metastore.connect(meta_path)) as con, con:
        con.executemany(
            "INSERT INTO landing_files (source, table_name, path, fingerprint, status, rows, rows_quarantined, "
            "reason, load_id, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(name, *row, now) for row in rows],
        )


@dataclass(frozen=True)
class RejectedFile:
    """A landed file whose latest taking was a rejection: it waits for a new version or a replay."""

    source: str
    table: str
    path: str
    reason: str
    load_id: str
    processed_at: str


def rejected_files(meta_path: Path, source: str | None = None) -> list[RejectedFile]:
    """The landed files (of every source, or `source`) whose latest taking rejected them, newest first."""
    with contextlib.closing(metastore.connect(meta_path)) as con:
        rows = con.execute(
            "SELECT source, table_name, path, coalesce(reason, ''), load_id, processed_at FROM ("
            "  SELECT *, row_number() OVER (PARTITION BY source, path, fingerprint ORDER BY processed_at DESC, load_id DESC) AS n"
            "  FROM landing_files WHERE ? IS NULL OR source = ?"
            ") WHERE n = 1 AND status = 'rejected' ORDER BY processed_at DESC, path",
            (source, source),
        ).fetchall()
    return [RejectedFile(*row) for row in rows]


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
