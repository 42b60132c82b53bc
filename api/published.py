"""The prod marts as published: the current version, or an older one while publish still retains it.

A page of a read names the version it came from, and the next page asks for that version
again, so a publish between two pages changes nothing for that reader. Older versions sit
beside the current one, in `version=<id>` folders of the same layout, each with its own copy of
the manifest, until publish prunes them (`run.publish_keep_versions`).

A version is opened once for the roles that see personal data and once for those that see it
masked (publish/reader.py), with the personal columns that version recorded (and those the
current one records, and today's declared masks, whichever is strictest); a key reads the one
its role may see. A version that kept no record of its personal columns is refused to roles
without access (`UnrecordedPersonal`).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass

import duckdb

from core import warehouse
from core.lake import Lake
from core.privacy import sees_personal
from core.settings import Settings
from publish.marts import marts_folder
from publish.reader import create_views
from publish.versions import Version, read_version, table_folder

VERSION_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{6}$")


class NotPublished(Exception):
    """Nothing has been published yet."""


class VersionGone(Exception):
    """The requested version is not (or no longer) in the lake."""


class CurrentDamaged(Exception):
    """The version the manifest names as current has lost its files: the published marts are damaged."""

    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass
class Snapshot:
    """One published version with its own DuckDB connection (views `marts.<table>`) and the marts' columns,
    as a role sees them: `personal` tells whether personal values are unmasked."""

    version: Version
    connection: duckdb.DuckDBPyConnection
    columns: dict[str, list[Column]]
    personal: bool

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one request (DuckDB connections are not shared between threads)."""
        return self.connection.cursor()


class PublishedMarts:
    """Snapshots of the retained versions, opened on first use and kept while they are retained."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lake = Lake(settings)
        self.folder = marts_folder(settings)
        self._snapshots: dict[tuple[str, bool], Snapshot] = {}
        self._lock = threading.Lock()
        self._current: str | None = None  # the current version the masked snapshots of older ones were opened against

    def snapshot(self, version_id: str | None = None, *, role: str | None) -> Snapshot:
        """The current version, or `version_id` when given, as `role` sees it; raises NotPublished or VersionGone."""
        personal = sees_personal(self.settings, role)
        for _ in range(2):
            current = read_version(self.lake, self.folder)
            if current is None:
                raise NotPublished()
            wanted = (version_id or current.version, personal)
            with self._lock:
                if current.version != self._current:
                    # an older version is masked with the current one's personal columns too: open it again
                    for key in [key for key in self._snapshots if not key[1] and key[0] != current.version]:
                        del self._snapshots[key]
                    self._current = current.version
                if wanted in self._snapshots:
                    return self._snapshots[wanted]
            version = current if wanted[0] == current.version else self._retained(current, wanted[0])
            try:
                snapshot = self._open(version, role, current)
                break
            except VersionGone:
                if version.version != current.version:
                    raise
                # the current version's files are gone: a publish pruned it as the manifest moved on (read it
                # again), or, if the manifest still names it, the published marts are damaged
        else:
            raise CurrentDamaged(version.version)
        with self._lock:
            snapshot = self._snapshots.setdefault(wanted, snapshot)
            self._forget_beyond(2 * (self.settings.run.publish_keep_versions + 1))
        return snapshot

    def forget(self, version_id: str) -> None:
        """Drop the snapshots whose files have gone (publish pruned them)."""
        with self._lock:
            for personal in (False, True):
                self._snapshots.pop((version_id, personal), None)

    def is_current(self, version_id: str) -> bool:
        """Whether the manifest names `version_id` as the current version."""
        current = read_version(self.lake, self.folder)
        return current is not None and current.version == version_id

    def exists(self, version: Version) -> bool:
        """Whether every table of `version` still has the folder of its files in the lake."""
        return all(self.lake.exists(table_folder(files)) for files in version.files.values())

    def _retained(self, current: Version, version_id: str) -> Version:
        """An older version as its own manifest recorded it; only tables that still have its folder.

        A version that kept no manifest of its own is laid out as the current one, with no record of
        its personal columns: roles without access are refused it."""
        if not VERSION_ID.match(version_id):
            raise VersionGone()
        recorded = read_version(self.lake, self.folder, version_id)
        if recorded is None:
            layout = dataclasses.replace(current, version=version_id, rows={}, loads=None, published_at="", personal=None)
            recorded = dataclasses.replace(
                layout,
                files={
                    name: path.replace(f"{table_folder(path)}/", f"{self.folder}/{name}/version={version_id}/")
                    for name, path in current.files.items()
                },
            )
        files = {name: path for name, path in recorded.files.items() if self.lake.exists(table_folder(path))}
        if not files:
            raise VersionGone()
        return dataclasses.replace(recorded, files=files)

    def _open(self, version: Version, role: str | None, current: Version) -> Snapshot:
        con = self.lake.attach(warehouse.connect())
        try:
            create_views(con, self.settings, version, role=role, current=current)
            columns = {name: [Column(row[0], row[1]) for row in con.execute(f"DESCRIBE marts.{name}").fetchall()] for name in version.files}
        except duckdb.IOException:
            con.close()
            if not self.exists(version):
                raise VersionGone() from None
            raise
        except BaseException:
            con.close()
            raise
        return Snapshot(version=version, connection=con, columns=columns, personal=sees_personal(self.settings, role))

    def _forget_beyond(self, keep: int) -> None:
        # version ids sort by time (then masked before not); a forgotten connection closes once its last request is done with it
        for old in sorted(self._snapshots)[:-keep]:
            del self._snapshots[old]
