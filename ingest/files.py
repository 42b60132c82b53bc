"""File-drop sources: CSV, JSONL and Parquet files in a landing folder, each loaded exactly once.

A file is taken when it is ready (see ingest/landing.py) and new: not recorded in
`landing_files`, and not in the resource's dlt state, which is committed together with
the load that carried the file (so a crash between load and record cannot load it twice).
Unreadable rows go to quarantine with the line and the reason; a file that cannot be
read at all (empty, corrupt) is recorded as rejected with the reason and skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import PurePosixPath

import dlt

from core.settings import FilesSource, FileTableSettings, Settings
from ingest.contracts import ContractGuard
from ingest.file_readers import FileRefused, read_file
from ingest.landing import LandedFile, new_files, record
from ingest.sources import SourcePlan


def landing_plan(settings: Settings, name: str, guard: ContractGuard) -> SourcePlan:
    """One resource per declared table over its new files; the files are recorded once the load is done."""
    source = settings.source_of_kind(name, FilesSource)
    by_table: dict[str, list[LandedFile]] = defaultdict(list)
    for landed in new_files(settings, name):
        by_table[landed.table].append(landed)
    outcomes: list[list] = []  # [table, path, fingerprint, status, rows, quarantined, reason]
    resources = [
        dlt.resource(
            _table_rows(source, table, spec, by_table.get(table, []), guard, outcomes),
            name=table,
            primary_key=spec.primary_key,
            write_disposition=spec.write_disposition,
        )
        for table, spec in source.tables.items()
    ]

    def after_load(load_id: str) -> None:
        record(settings.meta_path, name, [(*outcome, load_id) for outcome in outcomes])

    return SourcePlan(resources, after_load)


def _table_rows(source: FilesSource, table: str, spec: FileTableSettings, files: list[LandedFile], guard: ContractGuard, outcomes: list):
    def rows() -> Iterator:
        taken = dlt.current.resource_state().setdefault("taken", {})
        for landed in files:
            if taken.get(landed.relative) == landed.fingerprint:
                continue
            fmt = spec.format or PurePosixPath(landed.relative).suffix.lstrip(".").lower()
            counts = {"rows": 0, "bad": 0}
            try:
                batches = read_file(landed.path, fmt, fs=landed.fs, batch_rows=source.batch_rows, delimiter=spec.delimiter, encoding=spec.encoding)
                for batch in batches:
                    if batch.rejects:
                        guard.add_rejects(table, batch.rejects_table(landed.relative), len(batch.rejects))
                        counts["bad"] += len(batch.rejects)
                    size = len(batch.rows) if isinstance(batch.rows, list) else batch.rows.num_rows
                    counts["rows"] += size
                    if size:
                        yield batch.rows
            except FileRefused as refused:
                outcomes.append([table, landed.relative, landed.fingerprint, "rejected", 0, 0, str(refused)])
            else:
                outcomes.append([table, landed.relative, landed.fingerprint, "loaded", counts["rows"], counts["bad"], None])
            taken[landed.relative] = landed.fingerprint

    return rows
