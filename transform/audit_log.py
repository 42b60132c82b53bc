"""Every audit outcome of a plan, kept in the metadata store (`audit_results`) for the health views."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from core import metastore

STATUSES = ("passed", "failed", "warned")


@dataclass(frozen=True)
class AuditOutcome:
    """One audit of one model in one evaluation: a failed blocking audit is `failed`, a non-blocking one `warned`."""

    model: str
    audit: str
    blocking: bool
    status: str
    failed_rows: int


def record_audits(meta_path: Path, environment: str, outcomes: list[AuditOutcome]) -> None:
    """Append the outcomes, all stamped with the same time."""
    if not outcomes:
        return
    checked_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    with contextlib.closing(metastore.connect(meta_path)) as con, con:
        con.executemany(
            "INSERT INTO audit_results (checked_at, environment, model, audit, blocking, status, failed_rows) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(checked_at, environment, o.model, o.audit, int(o.blocking), o.status, o.failed_rows) for o in outcomes],
        )


def audit_rows(meta_path: Path, environment: str | None = None) -> list[dict]:
    """Recorded outcomes, oldest first; optionally of one environment."""
    if not meta_path.exists():
        return []
    with contextlib.closing(metastore.connect(meta_path)) as con:
        con.row_factory = lambda cursor, row: {col[0]: value for col, value in zip(cursor.description, row, strict=True)}
        where, params = ("WHERE environment = ?", (environment,)) if environment else ("", ())
        return con.execute(f"SELECT * FROM audit_results {where} ORDER BY rowid", params).fetchall()
