"""File-drop sources: CSV, JSONL and Parquet files in a landing folder, each loaded exactly once.

A file is taken when it is ready (see ingest/landing.py) and new: not recorded in
`landing_files`, and not in the resource's dlt state, which is committed together with
the load that carried the file (so a crash between load and record cannot load it twice).

Bad input never blocks good input: each file is read, checked against its table's contract
and held to the column types already loaded (ingest/type_drift.py) on its own. Unreadable
and invalid rows go to quarantine with the file, line and reason. A file is rejected, and
recorded with the reason, when it cannot be read at all (empty, a header only, a repeated
column name, corrupt), when its share of invalid rows is above `quality.max_bad_share`, or
when its types drift under `on_type_drift: refuse`; the other files and tables still load.
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
from ingest.file_readers import FileRefused, read_file
from ingest.landing import LandedFile, new_files, ready_files, record
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
    tally: TableTally = field(default_factory=TableTally)
    types: dict[str, str] = field(default_factory=dict)
    drifts: list[str] = field(default_factory=list)


def landing_plan(
    settings: Settings, name: str, guard: ContractGuard, known_types: dict[str, dict[str, str]], replay: frozenset[str] = frozenset()
) -> SourcePlan:
    """One resource per declared table over its new files (and those to replay); the files are recorded once the load is done."""
    source = settings.source_of_kind(name, FilesSource)
    by_table: dict[str, list[LandedFile]] = defaultdict(list)
    fresh = new_files(settings, name)
    again = [f for f in ready_files(settings, name) if f.relative in replay and f not in fresh]
    for landed in fresh + again:
        by_table[landed.table].append(landed)
    outcomes: list[FileOutcome] = []
    plan = SourcePlan([], checked=True)
    for table, spec in source.tables.items():
        reader = _FileTable(name, source, table, spec, guard, dict(known_types.get(table, {})), outcomes, plan.warnings)
        files = by_table.get(table, [])
        plan.resources.append(
            dlt.resource(
                reader.rows(files, {f.relative for f in files if f.relative in replay}),
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
        self.guard.accept(self.table, read.tally)
        self.known.update({column: kind for column, kind in read.types.items() if column not in self.known})
        self.warnings += [f"{message} in file {landed.relative} (on_type_drift: {self.spec.on_type_drift})" for message in read.drifts]
        noticed = "; ".join(f"{message} (on_type_drift: {self.spec.on_type_drift})" for message in read.drifts) or None
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
        for batch in read_file(
            landed.path, fmt, fs=landed.fs, batch_rows=self.source.batch_rows, delimiter=spec.delimiter, encoding=spec.encoding
        ):
            if batch.rejects:
                self.guard.add_rejects(self.table, batch.rejects_table(landed.relative), len(batch.rejects), into=read.tally)
            if not batch.size:
                continue
            checked = len(read.tally.quarantined)
            valid = self.guard.check(self.table, batch.rows, into=read.tally, source_file=landed.relative, lines=batch.lines)
            if len(valid):
                lines = batch.lines if len(valid) == batch.size else _lines_left(batch.lines, read.tally.quarantined[checked:])
                read.batches.append(self._hold_types(valid, lines, landed.relative, read, where))
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


def _lines_left(lines: list[int] | None, quarantined: list[pa.Table]) -> list[int] | None:
    """The lines of a batch's valid rows: its lines less those of the rows the contract quarantined."""
    if lines is None:
        return None
    out = {line for part in quarantined for line in part.column("_line").to_pylist()}
    return [line for line in lines if line not in out]
