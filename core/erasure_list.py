"""The erasure list's copy in the lake, beside the raw layer: `lake://raw/<source>/_erasures.json`.

The metadata store keeps the erasures (core/erasures.py); a store lost and recreated would forget
them, and the next ingest would load an erased subject's values again. So the list of each source
with personal columns is also kept in the lake: written when an erasure is recorded and by every
ingest before it loads anything (empty until the first erasure), so that a load in raw always has a
copy beside it, even when the ingest that made it was killed before it recorded the load: the copy's
absence means it was lost. `just doctor` reads it back into a recreated store. Every ingest applies
both, together. With neither (a store that never saw the source's loads, no copy, and loads in raw)
the ingest refuses to run: it cannot know whom to erase.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json

from core import erasures, metastore
from core.errors import PlatformError
from core.lake import Lake
from core.run_context import RunContext
from core.settings import Settings

COPY = "_erasures.json"


def copy_url(lake: Lake, source: str) -> str:
    return lake.url("raw", source, COPY)


def has_personal(settings: Settings, source: str) -> bool:
    return any(spec.personal for spec in settings.sources[source].tables.values())


def read_copy(lake: Lake, source: str) -> dict[str, list[str]] | None:
    """The erased keys per table that the lake's copy holds, or None without a readable copy."""
    text = lake.read_text(copy_url(lake, source))
    if text is None:
        return None
    try:
        erased = json.loads(text)["erased"]
        return {str(table): [str(key) for key in keys] for table, keys in erased.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _union(*lists: dict[str, list[str]] | None) -> dict[str, list[str]]:
    merged: dict[str, set[str]] = {}
    for erased in lists:
        for table, keys in (erased or {}).items():
            merged.setdefault(table, set()).update(keys)
    return {table: sorted(keys) for table, keys in sorted(merged.items())}


def write_copy(run: RunContext, source: str) -> None:
    """Write the lake's copy of the source's erasure list: every key the store or the copy holds."""
    settings, lake = run.settings, run.lake
    erased = _union(erasures.erased_keys(settings.meta_path, source), read_copy(lake, source))
    document = {"source": source, "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "erased": erased}
    lake.write_text_atomic(copy_url(lake, source), json.dumps(document, indent=1))


def erasure_list(run: RunContext, source: str) -> dict[str, list[str]]:
    """The keys to erase in each table of `source` at ingest: the store's and the lake copy's, together.

    Raises when the list may have been lost: the source declares personal columns and holds completed
    loads in raw, but the lake has no copy and the store never saw a load of it (it was recreated)."""
    settings, lake = run.settings, run.lake
    stored = erasures.erased_keys(settings.meta_path, source)
    copy = read_copy(lake, source)
    if copy is None and not stored and has_personal(settings, source) and _loaded(lake, source) and not _witnessed(settings, source):
        raise PlatformError(
            f"The erasure list of source {source!r} is not available: the metadata store {settings.meta_path} was recreated "
            f"since its loads, and the list's copy in the lake ({copy_url(lake, source)}) is missing. Loading {source} now "
            "could bring an erased subject's personal data back, so it is refused. Restore meta.db or that file from a "
            f"backup, then run `just doctor`; if no subject of {source} was ever erased, write "
            '{"erased": {}} into that file.'
        )
    return _union(stored, copy)


def secure_copy(run: RunContext, source: str) -> None:
    """Before an ingest of `source` loads anything: refuse when the list may have been lost, else write the copy."""
    if has_personal(run.settings, source):
        erasure_list(run, source)
        write_copy(run, source)


def restore(run: RunContext, source: str) -> int:
    """Put the keys of the lake's copy that the store lacks back into the store (as finished erasures),
    then write the copy again from both; return how many keys were restored."""
    settings = run.settings
    copy = read_copy(run.lake, source) or {}
    stored = erasures.erased_keys(settings.meta_path, source)
    missing = [(table, key) for table, keys in copy.items() for key in keys if key not in stored.get(table, [])]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with contextlib.closing(metastore.connect(settings.meta_path)) as con, con:
        con.executemany(
            "INSERT INTO erasures (started_at, finished_at, source, table_name, subject_key, rewritten) VALUES (?, ?, ?, ?, ?, ?)",
            [(now, now, source, table, key, json.dumps({"restored from the lake's copy": 1})) for table, key in missing],
        )
    write_copy(run, source)
    return len(missing)


def missing_from_store(run: RunContext, source: str) -> int:
    """How many keys of the lake's copy the store lacks (read only)."""
    settings = run.settings
    copy = read_copy(run.lake, source) or {}
    if not copy or not settings.meta_path.exists():
        return sum(len(keys) for keys in copy.values())
    stored = erasures.erased_keys(settings.meta_path, source)
    return sum(1 for table, keys in copy.items() for key in keys if key not in stored.get(table, []))


def _loaded(lake: Lake, source: str) -> bool:
    return bool(lake.fs.glob(lake.url("raw", source, "_dlt_loads") + "/*.jsonl"))


def _witnessed(settings: Settings, source: str) -> bool:
    """Whether the store recorded a load of the source: then it holds every erasure made since."""
    if not settings.meta_path.exists():
        return False
    with contextlib.closing(metastore.connect(settings.meta_path)) as con:
        return con.execute("SELECT 1 FROM contract_results WHERE source = ? LIMIT 1", (source,)).fetchone() is not None
