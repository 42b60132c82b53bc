"""The raw layer's record of its own files: `lake://raw/<source>/_raw_files.json`.

Every completed ingest records the files that the source's tables hold in raw (each table's Parquet
files, its hard-delete reports, and dlt's record of the completed loads), in the lake beside them, so
the record survives the loss of the data folder's metadata store. Raw only grows between ingests (an
erasure rewrites a file under its own name): a recorded file that is gone was lost, and the marts
built without it would silently lack part of a completed load. The next ingest and build refuse to
go on, naming the file and the reingest that repairs it; `just doctor` performs that reingest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.errors import PlatformError
from core.lake import DELETED_SUFFIX, Lake
from core.run_context import RunContext
from core.settings import Settings
from core.settings_sources import FilesSource

MANIFEST = "_raw_files.json"
LOADS = "_dlt_loads"  # dlt's record of the completed loads: without one, a load's rows are not read


@dataclass(frozen=True)
class MissingFile:
    """A file a completed load wrote to raw that is no longer there; `table` is None for the record of a load."""

    url: str
    source: str
    table: str | None

    @property
    def target(self) -> str:
        """What to read again to repair it: `source.table`, or the whole source."""
        return f"{self.source}.{self.table}" if self.table else self.source


def _folders(settings: Settings, source: str) -> dict[str, str | None]:
    """The raw folders of a source that only ingests write, and the table each belongs to."""
    folders: dict[str, str | None] = {LOADS: None}
    for table in settings.sources[source].tables:
        folders[table] = folders[table + DELETED_SUFFIX] = table
    return folders


def raw_files(lake: Lake, settings: Settings, source: str) -> list[str]:
    """The source's raw files now, as paths below `lake://raw/<source>/`."""
    found = []
    for folder in _folders(settings, source):
        pattern = "*.jsonl" if folder == LOADS else "*.parquet"
        found += [f"{folder}/{path.rsplit('/', 1)[-1]}" for path in lake.fs.glob(lake.url("raw", source, folder) + "/" + pattern)]
    return sorted(found)


def record_raw_files(run: RunContext, source: str) -> None:
    """Record, after a completed ingest, the files the source holds in raw."""
    settings, lake = run.settings, run.lake
    document = {"source": source, "files": raw_files(lake, settings, source)}
    lake.write_text_atomic(lake.url("raw", source, MANIFEST), json.dumps(document, indent=1))


def recorded_raw_files(lake: Lake, source: str) -> list[str] | None:
    """The files the last completed ingest recorded, or None before the first (or when the record is unreadable)."""
    text = lake.read_text(lake.url("raw", source, MANIFEST))
    if text is None:
        return None
    try:
        files = json.loads(text)["files"]
    except (ValueError, KeyError, TypeError):
        return None  # a damaged record is written again by the next ingest; the files themselves are checked by reading
    return [str(name) for name in files] if isinstance(files, list) else None


def missing_raw_files(run: RunContext, sources: list[str] | None = None, *, except_tables: tuple[str, ...] = ()) -> list[MissingFile]:
    """The recorded raw files that are gone, of `sources` (every source by default); `except_tables`
    are tables about to be read again whole."""
    settings, lake = run.settings, run.lake
    missing = []
    for source in sources or list(settings.sources):
        recorded = recorded_raw_files(lake, source)
        if not recorded or set(settings.sources[source].tables) <= set(except_tables):
            continue  # nothing recorded yet, or every table is read again whole
        folders = _folders(settings, source)
        present = set(raw_files(lake, settings, source))
        for name in recorded:
            folder = name.split("/", 1)[0]
            if folder in folders and name not in present and folders[folder] not in except_tables:
                missing.append(MissingFile(lake.url("raw", source, name), source, folders[folder]))
    return missing


def repair_command(settings: Settings, missing: MissingFile) -> str:
    """How the user reads the lost part of raw again."""
    if isinstance(settings.sources[missing.source], FilesSource):
        return (
            f"run `just reingest {missing.target}` to take the landed files again (a file-drop source's raw layer is what "
            "was dropped: put files removed from the landing folder back first)"
        )
    return f"run `just reingest {missing.target}` (or `just doctor`, which does it) to read it again from the source"


def refuse_missing(settings: Settings, what: str, missing: list[MissingFile]) -> None:
    """Stop `what` when a recorded raw file is gone: the marts would silently lack part of a completed load."""
    if not missing:
        return
    first = missing[0]
    more = f" ({len(missing)} files are missing in all: {', '.join(sorted({m.target for m in missing}))})" if len(missing) > 1 else ""
    raise PlatformError(
        f"{what} stopped: the raw file {first.url} of {first.target}, written by a completed load, is missing{more}. "
        f"The marts built without it would silently lack that load: {repair_command(settings, first)}. "
        "What is published is unchanged."
    )
