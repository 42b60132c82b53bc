"""File-drop sources: CSV, JSONL and Parquet files in a landing folder, each loaded exactly once.

A file is taken when it is ready (see ingest/landing.py) and new: not recorded in
`landing_files`, and not in the resource's dlt state, which is committed together with
the load that carried the file (so a crash between load and record cannot load it twice).

Bad input never blocks good input: each file is read, checked against its table's contract
and held to the column types already loaded (ingest/type_drift.py) on its own. Unreadable
and invalid rows go to quarantine with the file, line and reason. A file is rejected, and
recorded with the reason, when it cannot be read at all (empty, a header only, a repeated
column name, corrupt), when its share of invalid rows is above `quality.max_bad_share`, or
when its types drift under `on_type_drift: refuse`, or when it has no column of the table's key;
the other files and tables still load.

The latest version of a key wins: files of a table load in landing order, and a file that holds a
key of a file before it in the same run goes to a later load (`FileDrops`); files that share no key
load together. Of the rows of one file that share a key the last one loads (the earlier ones are
quarantined as `duplicate_key`, ingest/file_keys.py). A row whose key is missing or of another type
is quarantined, with or without a contract.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import dlt
import pyarrow as pa

from core.errors import PlatformError, describe_error
from core.settings import Settings
from core.settings_sources import FilesSource, FileTableSettings
from ingest.contracts import ContractGuard, TableTally, first_failures
from ingest.exact_values import fine_timestamps, wide_decimals
from ingest.file_keys import (
    DUPLICATE_KEY,
    LoadKeys,
    Superseded,
    last_of_each_key,
    refuse_missing_key_columns,
    split_bad_keys,
    whole_number_keys,
)
from ingest.file_parts import Held, earlier_rows, set_aside_earlier
from ingest.file_readers import FORMATS, Batch, FileRefused, memory_to_read, raw_names, read_file, read_in_parts
from ingest.file_values import split_non_finite
from ingest.landing import LandedFile, in_landing_order, landing_warnings, new_files, ready_files, record
from ingest.plan import SourcePlan
from ingest.quarantine import SpilledRows
from ingest.read_ahead import NextFile
from ingest.type_drift import apply_policy, apply_policy_to_rows, batch_types, numbers_kept_exact

# Errors of a file's own content; anything else (the store, the disk) fails the run and the file waits.
UNREADABLE = (FileRefused, PlatformError, ValueError, KeyError, TypeError, IndexError, UnicodeError, pa.ArrowException)


@dataclass
class FileOutcome:
    """What became of one file: a row of `landing_files` (before the load id is known)."""

    table: str
    relative: str
    fingerprint: str
    status: str  # loaded | rejected
    rows: int = 0
    rows_quarantined: int = 0
    reason: str | None = None

    def as_row(self, load_id: str) -> tuple:
        return (self.table, self.relative, self.fingerprint, self.status, self.rows, self.rows_quarantined, self.reason, load_id)


@dataclass
class _Taken:
    """A file read and checked: its valid batches, its tally, and the column types it brought."""

    batches: list = field(default_factory=list)
    superseded: Superseded = field(default_factory=lambda: Superseded([], []))  # the file's earlier rows of a repeated key
    tally: TableTally = field(default_factory=TableTally)
    types: dict[str, str] = field(default_factory=dict)
    drifts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the reader's, e.g. numbers kept as text
    held: Held | None = None  # of a file read in parts: its accepted rows, on disk (`batches` stays empty)

    def key_batches(self, keys: list[str]) -> list:
        """The accepted rows, or their key columns (of a file read in parts), to compare with the load's keys."""
        return list(self.held.tables(keys)) if self.held is not None else self.batches

    def items(self) -> Iterator:
        """The accepted rows as items for the load: as few as their layouts allow, or (read in parts) a batch at a time."""
        if self.held is None:
            yield from _as_items(self.batches)
            return
        try:
            yield from self.held.tables()
        finally:
            self.held.drop()


class FileDrops:
    """The files one ingest of a file-drop source takes, table by table in landing order, in as few loads as their
    keys allow: a file joins the load of the files before it unless it holds one of their keys; then it starts the
    next load, so a later file's version of a key always carries a later load id (the latest version of a key wins).

    replay: files to take again; reload: tables whose every landed file is taken again. one_at_a_time: one file per
    load, so that a load that fails names the file it failed on (`reject_failed`).
    """

    def __init__(
        self, settings: Settings, name: str, replay: frozenset[str], reload: list[str] | None, *, one_at_a_time: bool = False
    ) -> None:
        self.settings, self.name, self.one_at_a_time = settings, name, one_at_a_time
        self.last: _Load | None = None
        fresh = new_files(settings, name)
        again = [f for f in ready_files(settings, name) if (f.relative in replay or f.table in (reload or ())) and f not in fresh]
        queues: dict[str, deque[LandedFile]] = defaultdict(deque)
        for landed in in_landing_order(settings.meta_path, name, fresh + again):
            if reload is None or landed.table in reload:
                queues[landed.table].append(landed)
        self.again = frozenset(f.relative for files in queues.values() for f in files if f.relative in replay or reload)
        source = settings.source_of_kind(name, FilesSource)
        parts = settings.data_dir / "run" / "parts" / name
        shutil.rmtree(parts, ignore_errors=True)  # what a run that stopped held of a file read in parts
        self.tables = {table: _FileTable(name, source, table, spec, queues[table], parts / table) for table, spec in source.tables.items()}
        self.warnings = landing_warnings(settings, name)

    @property
    def done(self) -> bool:
        """Every file was taken (or found taken already)."""
        return not any(reader.files or reader.pending for reader in self.tables.values())

    def plan(self, guard: ContractGuard, known_types: dict[str, dict[str, str]]) -> SourcePlan:
        """The next load: one resource per declared table over the next files of its queue that share no key; the
        files are recorded once the load is done. known_types: table -> column -> dlt type in the lake so far."""
        plan = SourcePlan([], checked=True)
        load = self.last = _Load(guard, [], plan.warnings, self.one_at_a_time)
        for table, reader in self.tables.items():
            reader.known = {**reader.known, **known_types.get(table, {})}
            plan.resources.append(
                dlt.resource(
                    reader.rows(load, self.again),
                    name=table,
                    primary_key=reader.spec.primary_key,
                    write_disposition=reader.spec.write_disposition,
                )
            )

        def after_load(load_id: str) -> None:
            record(self.settings.meta_path, self.name, [outcome.as_row(load_id) for outcome in load.outcomes])

        plan.after_load = after_load
        return plan

    def reject_failed(self, failure: str, load_id: str) -> str | None:
        """Record the one file of a load that failed (one file at a time) as rejected, with `failure` (where, then
        `: ` and the error); return the warning, or None when the load held no file (the failure is not a file's)."""
        loaded = [outcome for outcome in self.last.outcomes if outcome.status == "loaded"] if self.last else []
        if not self.one_at_a_time or len(loaded) != 1:
            return None
        failed = loaded[0]
        reason = f"the load failed on it{failure}"
        rejected = FileOutcome(failed.table, failed.relative, failed.fingerprint, "rejected", reason=reason)
        record(self.settings.meta_path, self.name, [rejected.as_row(load_id)])
        return f"{self.name}.{failed.table}: file {failed.relative} rejected: {reason}"


@dataclass
class _Load:
    """What the files taken into one load account to: its contract tallies (`guard`), their outcomes and warnings."""

    guard: ContractGuard
    outcomes: list[FileOutcome]
    warnings: list[str]
    one_file: bool = False  # the load takes one file (accepted or rejected) and no more

    @property
    def full(self) -> bool:
        return self.one_file and bool(self.outcomes)


@dataclass
class _FileTable:
    """The files of one declared table, each read, checked and accepted or rejected on its own."""

    source_name: str
    source: FilesSource
    table: str
    spec: FileTableSettings
    files: deque[LandedFile]  # not read yet, in landing order
    parts_dir: Path  # where a file too large to read whole is held while it is read in parts
    known: dict[str, str] = field(default_factory=dict)  # column -> dlt type, as loaded so far
    pending: tuple[LandedFile, _Taken] | None = None  # read, and holding a key of the load it was read in
    ahead: NextFile[LandedFile, list[Batch] | None] = field(init=False)  # the next file, parsed while this one is written
    keys: list[str] = field(init=False)  # the key columns as raw names them, as a file's columns are read

    def __post_init__(self) -> None:
        self.ahead = NextFile(self._parse)
        self.keys = raw_names(self.spec.key_columns)

    def rows(self, load: _Load, again: frozenset[str]):
        """The rows of the next files of the queue that share no key (again: files to take though taken before)."""

        def rows() -> Iterator:
            taken = dlt.current.resource_state().setdefault("taken", {})
            keys = LoadKeys(self.keys)
            try:
                yield from take(taken, keys)
            finally:
                self.ahead.close()  # a file read for a later load is read again then

        def take(taken: dict, keys: LoadKeys) -> Iterator:
            while (self.pending is not None or self.files) and not load.full:
                read: _Taken | None
                if self.pending is not None:
                    (landed, read), self.pending = self.pending, None
                else:
                    landed = self.files.popleft()
                    if taken.get(landed.relative) == landed.fingerprint and landed.relative not in again:
                        continue
                    upcoming = next((f for f in self.files if taken.get(f.relative) != f.fingerprint or f.relative in again), None)
                    read = self._check(landed, load, upcoming)
                if read is not None:
                    if not keys.take(read.key_batches(self.keys)):
                        self.pending = (landed, read)
                        return
                    yield from self._accept(landed, read, load)
                taken[landed.relative] = landed.fingerprint

        return rows

    def _check(self, landed: LandedFile, load: _Load, upcoming: LandedFile | None) -> _Taken | None:
        """The file read and checked, or None when it is rejected as a whole; `upcoming`, the file to read after it,
        is read on a thread meanwhile."""
        try:
            try:
                parsed = self.ahead.take(landed)
            finally:
                self.ahead.start(upcoming, upcoming.size if upcoming is not None else 0)
            read = self._read(landed, parsed, load.guard) if parsed is not None else self._read_in_parts(landed, load.guard)
        except UNREADABLE as exc:
            self._reject(landed, str(exc) if isinstance(exc, (FileRefused, PlatformError)) else describe_error(exc), load)
            return None
        refusal = self._refusal(read.tally)
        if refusal:
            if read.held is not None:
                read.held.drop()
            if isinstance(read.superseded.quarantined, SpilledRows):
                read.superseded.quarantined.drop()
            self._reject(landed, refusal, load)
            return None
        return read

    def _accept(self, landed: LandedFile, read: _Taken, load: _Load) -> Iterator:
        notes = [f"{message} (on_type_drift: {self.spec.on_type_drift})" for message in read.drifts]
        load.warnings += [f"{message} in file {landed.relative} (on_type_drift: {self.spec.on_type_drift})" for message in read.drifts]
        notes += read.notes
        load.warnings += [f"{self.source_name}.{self.table}: file {landed.relative}: {note}" for note in read.notes]
        if read.held is not None:  # said where the file's outcome is listed, not as a warning: nothing is wrong
            notes.append(
                f"read in parts: reading it whole would take more than max_file_memory_mb ({self.source.max_file_memory() // 2**20:,} MB)"
            )
        if read.superseded.quarantined is not None:
            superseded = read.superseded.quarantined.num_rows
            load.guard.add_rejects(self.table, read.superseded.quarantined, superseded, into=read.tally)
            notes.append(
                f"{read.superseded.keys_repeated:,} key(s) repeated in the file: the last row of each loaded, the "
                f"{superseded:,} earlier row(s) are in quarantine ({DUPLICATE_KEY})"
            )
            load.warnings.append(f"{self.source_name}.{self.table}: file {landed.relative}: {notes[-1]}")
        load.guard.accept(self.table, read.tally)
        self.known.update({column: kind for column, kind in read.types.items() if column not in self.known})
        noticed = "; ".join(notes) or None
        load.outcomes.append(
            FileOutcome(
                self.table, landed.relative, landed.fingerprint, "loaded", read.tally.rows_valid, read.tally.rows_quarantined, noticed
            )
        )
        yield from read.items()

    def _reject(self, landed: LandedFile, reason: str, load: _Load) -> None:
        load.outcomes.append(FileOutcome(self.table, landed.relative, landed.fingerprint, "rejected", reason=reason))
        load.warnings.append(f"{self.source_name}.{self.table}: file {landed.relative} rejected: {reason}")

    def _format(self, landed: LandedFile) -> str:
        return self.spec.format or PurePosixPath(landed.relative).suffix.lstrip(".").lower()

    def _parse(self, landed: LandedFile) -> list[Batch] | None:
        """The file's batches as its reader parses them, or None for a file too large to read whole (run on the
        read-ahead thread too: no guard, no state)."""
        spec, fmt = self.spec, self._format(landed)
        if fmt in FORMATS and landed.size and memory_to_read(landed.fs, landed.path, fmt, landed.size) > self.source.max_file_memory():
            return None
        return list(
            read_file(
                landed.path,
                fmt,
                fs=landed.fs,
                batch_rows=self.source.batch_rows,
                delimiter=spec.delimiter,
                encoding=spec.encoding,
                missing=spec.missing_values,
            )
        )

    def _read_in_parts(self, landed: LandedFile, guard: ContractGuard) -> _Taken:
        """A file too large to read whole, read and checked a part at a time, its accepted rows held on disk
        (ingest/file_parts.py)."""
        spec = self.spec

        def parts() -> Iterator[Batch]:
            return read_in_parts(
                landed.path,
                self._format(landed),
                fs=landed.fs,
                batch_rows=self.source.batch_rows,
                max_memory=self.source.max_file_memory(),
                delimiter=spec.delimiter,
                encoding=spec.encoding,
                missing=spec.missing_values,
            )

        self.parts_dir.mkdir(parents=True, exist_ok=True)
        held = Held(Path(tempfile.mkdtemp(dir=self.parts_dir)))
        # the earlier rows of repeated keys may outgrow memory too; they stay on disk until the quarantine is written
        superseded = SpilledRows(Path(tempfile.mkdtemp(dir=self.parts_dir, prefix="quarantine-")))
        read = _Taken(held=held)
        try:
            earlier = earlier_rows(parts(), self.keys, held.folder / "keys", self.source.max_file_memory() // 2) if self.keys else None
            start = 0
            for batch in parts():
                size = batch.size
                aside = set_aside_earlier(batch, start, earlier, self.keys, landed.relative) if earlier is not None and size else None
                if aside is not None:
                    superseded.add(guard.erased(self.table, aside))
                start += size
                self._read(landed, [batch], guard, read)
                for rows in read.batches:
                    held.add(rows)
                read.batches = []
        except BaseException:
            held.drop()
            superseded.drop()
            raise
        shutil.rmtree(held.folder / "keys", ignore_errors=True)
        quarantined = superseded if superseded.num_rows else None
        if quarantined is None:
            superseded.drop()
        read.superseded = Superseded([], [], quarantined, earlier.keys_repeated if earlier is not None and quarantined is not None else 0)
        return read

    def _read(self, landed: LandedFile, parsed: list[Batch], guard: ContractGuard, read: _Taken | None = None) -> _Taken:
        """Check a file's batches (or, into `read`, one part of a file read in parts)."""
        spec = self.spec
        read = read if read is not None else _Taken()
        where = f"{self.source_name}.{self.table}"
        batches = []
        for batch in parsed:
            read.notes += batch.notes
            if batch.rejects:
                guard.add_rejects(self.table, batch.rejects_table(landed.relative), len(batch.rejects), into=read.tally)
            if batch.size:
                refuse_missing_key_columns(_columns_of(batch.rows), self.keys)
                batches.append(batch)
        retyped, notes = fine_timestamps([b.rows for b in batches], [b.lines for b in batches])
        retyped, wide = wide_decimals(retyped)
        for batch, rows in zip(batches, retyped, strict=True):
            batch.rows = rows
        read.notes += notes + wide
        # a key column typed text by its first file's reader, most of its values whole numbers, is whole numbers
        read.types.update({k: kind for k, kind in whole_number_keys([b.rows for b in batches], self.keys).items() if k not in self.known})
        # the latest version of a key in the file is its last row: earlier ones are set aside before the contract sees them
        read.superseded = last_of_each_key([b.rows for b in batches], [b.lines for b in batches], self.keys, landed.relative)
        for rows, lines in zip(read.superseded.batches, read.superseded.lines, strict=True):
            size = len(rows) if isinstance(rows, list) else rows.num_rows
            if not size:
                continue
            if spec.non_finite == "quarantine":
                finite = split_non_finite(rows, lines, landed.relative)
                if finite.quarantined is not None:
                    guard.add_rejects(self.table, finite.quarantined, finite.quarantined.num_rows, into=read.tally)
                rows, lines, size = finite.rows, finite.lines, len(finite.rows) if isinstance(finite.rows, list) else finite.rows.num_rows
                if not size:
                    continue
            checked = len(read.tally.quarantined)
            valid = guard.check(self.table, rows, into=read.tally, source_file=landed.relative, lines=lines)
            if len(valid):
                kept = lines if len(valid) == size else _lines_left(lines, read.tally.quarantined[checked:])
                typed = self._hold_types(valid, kept, landed.relative, read, where, guard)
                held = split_bad_keys(typed, self.keys, kept, landed.relative, {**read.types, **self.known})
                if held.quarantined is not None:
                    guard.add_rejects(self.table, held.quarantined, 0, into=read.tally)
                if len(held.rows):
                    read.batches.append(held.rows)
        return read

    def _hold_types(self, rows, lines: list[int] | None, relative: str, read: _Taken, where: str, guard: ContractGuard):
        """Hold a batch (Arrow or JSON rows) to the column types loaded so far, under the table's policy."""
        known = {**read.types, **self.known}
        if isinstance(rows, pa.Table):
            drifted = apply_policy(rows, known, self.spec.on_type_drift, lines, relative)
        else:
            drifted = apply_policy_to_rows(rows, known, self.spec.on_type_drift, lines, relative)
            drifted.rows = numbers_kept_exact(drifted.rows, {**batch_types(drifted.rows), **known}, tuple(self.keys))
        if drifted.quarantined is not None:
            guard.add_rejects(self.table, drifted.quarantined, 0, into=read.tally)
        read.drifts += [drift.describe(where) for drift in drifted.drifts]
        for column, kind in batch_types(drifted.rows).items():
            read.types.setdefault(column, kind)
        return drifted.rows

    def _refusal(self, tally: TableTally) -> str | None:
        """Why the file is rejected as a whole, or None."""
        if tally.rows_in == 0:
            return "no rows (a header only, or blank lines)"
        share = tally.rows_quarantined / tally.rows_in
        if share > self.source.quality.max_bad_share:
            return (
                f"{tally.rows_quarantined:,} of {tally.rows_in:,} rows ({share:.1%}) are invalid, above quality.max_bad_share = "
                f"{self.source.quality.max_bad_share:.1%}; nothing of the file was loaded. First failures: {first_failures(tally)}"
            )
        return None


def _as_items(batches: list) -> list:
    """A file's batches as few dlt items as their layouts allow: dlt writes an Arrow item as one Parquet row group
    (of at most 1Mi rows), and fewer, larger row groups cost much less to write (a dictionary per column per group)."""
    runs: list[list] = []
    for batch in batches:
        joins = runs and isinstance(batch, pa.Table) and isinstance(runs[-1][-1], pa.Table) and runs[-1][-1].schema.equals(batch.schema)
        if joins:
            runs[-1].append(batch)
        else:
            runs.append([batch])
    return [pa.concat_tables(run) if isinstance(run[0], pa.Table) else run[0] for run in runs]


def _columns_of(rows) -> set[str]:
    """The columns of a batch: an Arrow table's, or every key of any row of a list of JSON objects."""
    return set(rows.column_names) if isinstance(rows, pa.Table) else {column for row in rows for column in row}


def _lines_left(lines: list[int] | None, quarantined: list[pa.Table]) -> list[int] | None:
    """The lines of a batch's valid rows: its lines less those of the rows the contract quarantined."""
    if lines is None:
        return None
    out = {line for part in quarantined for line in part.column("_line").to_pylist()}
    return [line for line in lines if line not in out]
