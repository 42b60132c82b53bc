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

The latest version of a key wins: files of a table load in landing order, one load per file of a
table (`landing_rounds`), and of the rows of one file that share a key the last one loads (the
earlier ones are quarantined as `duplicate_key`, ingest/file_keys.py). A row whose key is missing
or of another type is quarantined, with or without a contract.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import dlt
import pyarrow as pa

from core.errors import PlatformError, describe_error
from core.settings import Settings
from core.settings_sources import FilesSource, FileTableSettings
from ingest.contracts import ContractGuard, TableTally, first_failures
from ingest.file_keys import DUPLICATE_KEY, Superseded, last_of_each_key, refuse_missing_key_columns, split_bad_keys, whole_number_keys
from ingest.file_readers import FileRefused, read_file
from ingest.file_values import split_non_finite
from ingest.landing import LandedFile, in_landing_order, new_files, ready_files, record
from ingest.plan import SourcePlan
from ingest.type_drift import apply_policy, apply_policy_to_rows, batch_types

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


def landing_rounds(settings: Settings, name: str, replay: frozenset[str], reload: list[str] | None) -> list[list[LandedFile]]:
    """The files to take, in rounds of at most one file per table, in landing order: each round is one load, so
    a later file's rows carry a later load id than an earlier file's (the latest version of a key wins).

    replay: files to take again; reload: tables whose every landed file is taken again. Always one round at least.
    """
    fresh = new_files(settings, name)
    again = [f for f in ready_files(settings, name) if (f.relative in replay or f.table in (reload or ())) and f not in fresh]
    by_table: dict[str, list[LandedFile]] = defaultdict(list)
    for landed in in_landing_order(settings.meta_path, name, fresh + again):
        if reload is None or landed.table in reload:
            by_table[landed.table].append(landed)
    depth = max((len(files) for files in by_table.values()), default=1)
    return [[files[i] for files in by_table.values() if i < len(files)] for i in range(depth)]


def landing_plan(
    settings: Settings,
    name: str,
    guard: ContractGuard,
    known_types: dict[str, dict[str, str]],
    files: list[LandedFile],
    again: frozenset[str] = frozenset(),
) -> SourcePlan:
    """One resource per declared table over its `files` of this round (`again`: those taken before, to take again);
    the files are recorded once the load is done."""
    source = settings.source_of_kind(name, FilesSource)
    by_table: dict[str, list[LandedFile]] = defaultdict(list)
    for landed in files:
        by_table[landed.table].append(landed)
    outcomes: list[FileOutcome] = []
    plan = SourcePlan([], checked=True)
    for table, spec in source.tables.items():
        reader = _FileTable(name, source, table, spec, guard, dict(known_types.get(table, {})), outcomes, plan.warnings)
        taken = by_table.get(table, [])
        plan.resources.append(
            dlt.resource(
                reader.rows(taken, {f.relative for f in taken if f.relative in again}),
                name=table,
                primary_key=spec.primary_key,
                write_disposition=spec.write_disposition,
            )
        )

    def after_load(load_id: str) -> None:
        record(settings.meta_path, name, [outcome.as_row(load_id) for outcome in outcomes])

    plan.after_load = after_load
    return plan


@dataclass
class _FileTable:
    """The files of one declared table, each read, checked and accepted or rejected on its own."""

    source_name: str
    source: FilesSource
    table: str
    spec: FileTableSettings
    guard: ContractGuard
    known: dict[str, str]  # column -> dlt type, as loaded so far
    outcomes: list[FileOutcome]
    warnings: list[str]

    def rows(self, files: list[LandedFile], replay: set[str]):
        def rows() -> Iterator:
            taken = dlt.current.resource_state().setdefault("taken", {})
            for landed in files:
                if taken.get(landed.relative) == landed.fingerprint and landed.relative not in replay:
                    continue
                yield from self._take(landed)
                taken[landed.relative] = landed.fingerprint

        return rows

    def _take(self, landed: LandedFile) -> Iterator:
        try:
            read = self._read(landed)
        except UNREADABLE as exc:
            self._reject(landed, str(exc) if isinstance(exc, (FileRefused, PlatformError)) else describe_error(exc))
            return
        refusal = self._refusal(read.tally)
        if refusal:
            self._reject(landed, refusal)
            return
        notes = [f"{message} (on_type_drift: {self.spec.on_type_drift})" for message in read.drifts]
        self.warnings += [f"{message} in file {landed.relative} (on_type_drift: {self.spec.on_type_drift})" for message in read.drifts]
        if read.superseded.quarantined is not None:
            superseded = read.superseded.quarantined.num_rows
            self.guard.add_rejects(self.table, read.superseded.quarantined, superseded, into=read.tally)
            notes.append(
                f"{read.superseded.keys_repeated:,} key(s) repeated in the file: the last row of each loaded, the "
                f"{superseded:,} earlier row(s) are in quarantine ({DUPLICATE_KEY})"
            )
            self.warnings.append(f"{self.source_name}.{self.table}: file {landed.relative}: {notes[-1]}")
        self.guard.accept(self.table, read.tally)
        self.known.update({column: kind for column, kind in read.types.items() if column not in self.known})
        noticed = "; ".join(notes) or None
        self.outcomes.append(
            FileOutcome(
                self.table, landed.relative, landed.fingerprint, "loaded", read.tally.rows_valid, read.tally.rows_quarantined, noticed
            )
        )
        yield from read.batches

    def _reject(self, landed: LandedFile, reason: str) -> None:
        self.outcomes.append(FileOutcome(self.table, landed.relative, landed.fingerprint, "rejected", reason=reason))
        self.warnings.append(f"{self.source_name}.{self.table}: file {landed.relative} rejected: {reason}")

    def _read(self, landed: LandedFile) -> _Taken:
        spec = self.spec
        fmt = spec.format or PurePosixPath(landed.relative).suffix.lstrip(".").lower()
        read = _Taken()
        where = f"{self.source_name}.{self.table}"
        batches = []
        for batch in read_file(
            landed.path,
            fmt,
            fs=landed.fs,
            batch_rows=self.source.batch_rows,
            delimiter=spec.delimiter,
            encoding=spec.encoding,
            missing=spec.missing_values,
        ):
            if batch.rejects:
                self.guard.add_rejects(self.table, batch.rejects_table(landed.relative), len(batch.rejects), into=read.tally)
            if batch.size:
                refuse_missing_key_columns(_columns_of(batch.rows), spec.key_columns)
                batches.append(batch)
        # a key column typed text by its first file's reader, most of its values whole numbers, is whole numbers
        read.types.update(
            {k: kind for k, kind in whole_number_keys([b.rows for b in batches], spec.key_columns).items() if k not in self.known}
        )
        # the latest version of a key in the file is its last row: earlier ones are set aside before the contract sees them
        read.superseded = last_of_each_key([b.rows for b in batches], [b.lines for b in batches], spec.key_columns, landed.relative)
        for rows, lines in zip(read.superseded.batches, read.superseded.lines, strict=True):
            size = len(rows) if isinstance(rows, list) else rows.num_rows
            if not size:
                continue
            if spec.non_finite == "quarantine":
                finite = split_non_finite(rows, lines, landed.relative)
                if finite.quarantined is not None:
                    self.guard.add_rejects(self.table, finite.quarantined, finite.quarantined.num_rows, into=read.tally)
                rows, lines, size = finite.rows, finite.lines, len(finite.rows) if isinstance(finite.rows, list) else finite.rows.num_rows
                if not size:
                    continue
            checked = len(read.tally.quarantined)
            valid = self.guard.check(self.table, rows, into=read.tally, source_file=landed.relative, lines=lines)
            if len(valid):
                kept = lines if len(valid) == size else _lines_left(lines, read.tally.quarantined[checked:])
                typed = self._hold_types(valid, kept, landed.relative, read, where)
                held = split_bad_keys(typed, spec.key_columns, kept, landed.relative, {**read.types, **self.known})
                if held.quarantined is not None:
                    self.guard.add_rejects(self.table, held.quarantined, 0, into=read.tally)
                if len(held.rows):
                    read.batches.append(held.rows)
        return read

    def _hold_types(self, rows, lines: list[int] | None, relative: str, read: _Taken, where: str):
        """Hold a batch (Arrow or JSON rows) to the column types loaded so far, under the table's policy."""
        hold = apply_policy if isinstance(rows, pa.Table) else apply_policy_to_rows
        drifted = hold(rows, {**read.types, **self.known}, self.spec.on_type_drift, lines, relative)
        if drifted.quarantined is not None:
            self.guard.add_rejects(self.table, drifted.quarantined, 0, into=read.tally)
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


def _columns_of(rows) -> set[str]:
    """The columns of a batch: an Arrow table's, or every key of any row of a list of JSON objects."""
    return set(rows.column_names) if isinstance(rows, pa.Table) else {column for row in rows for column in row}


def _lines_left(lines: list[int] | None, quarantined: list[pa.Table]) -> list[int] | None:
    """The lines of a batch's valid rows: its lines less those of the rows the contract quarantined."""
    if lines is None:
        return None
    out = {line for part in quarantined for line in part.column("_line").to_pylist()}
    return [line for line in lines if line not in out]
