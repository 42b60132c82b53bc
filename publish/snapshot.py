"""A DuckDB snapshot of what is published, for tools that read one database file (the Evidence reports).

Schema `marts` holds the tables of the current published version, copied from its
Parquet files as the reports' role (`reports.role`, business by default) may see them:
personal columns masked unless that role is in `privacy.personal_data_roles`. Schema `quality` holds the platform's health from the metadata
store (audit, contract and monitor results, job runs), each source's freshness
against its SLA, and which of those tables the store has at all. The file is
written beside its final place and switched with `os.replace`, so a reader opens
the old snapshot or the new one, never a half-written one. The warehouse that a
build writes is never opened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from core import metastore, warehouse
from core.errors import PlatformError
from core.lake import Lake
from core.settings import Settings
from publish.marts import PROD
from publish.reader import Published, current_version, view_sql

# The metadata store's tables that the reports read, with the columns each feature
# promised (see the cross-helper contracts) and the type the reports see.
QUALITY_TABLES: dict[str, dict[str, str]] = {
    "audit_results": {
        "checked_at": "TIMESTAMP",
        "environment": "VARCHAR",
        "model": "VARCHAR",
        "audit": "VARCHAR",
        "blocking": "BOOLEAN",
        "status": "VARCHAR",
        "failed_rows": "BIGINT",
    },
    "contract_results": {
        "checked_at": "TIMESTAMP",
        "source": "VARCHAR",
        "table_name": "VARCHAR",
        "load_id": "VARCHAR",
        "rows_in": "BIGINT",
        "rows_valid": "BIGINT",
        "rows_quarantined": "BIGINT",
    },
    "monitor_results": {
        "checked_at": "TIMESTAMP",
        "check_name": "VARCHAR",
        "subject": "VARCHAR",
        "status": "VARCHAR",
        "value": "DOUBLE",
        "threshold": "DOUBLE",
        "detail": "VARCHAR",
    },
    "job_runs": {
        "run_id": "BIGINT",
        "job": "VARCHAR",
        "trigger": "VARCHAR",
        "started_at": "TIMESTAMP",
        "finished_at": "TIMESTAMP",
        "status": "VARCHAR",
        "rows_in": "BIGINT",
        "rows_out": "BIGINT",
        "error": "VARCHAR",
    },
}
# Who fills each table, for the message a report shows while it is empty.
QUALITY_OWNERS = {
    "audit_results": "the SQLMesh audit log (transform/)",
    "contract_results": "the ingestion contracts (ingest/)",
    "monitor_results": "the scheduler's monitoring (scheduler/)",
    "job_runs": "the run log (core/runlog.py)",
}


@dataclass
class SnapshotResult:
    path: Path
    version: str
    marts: dict[str, int]
    quality: dict[str, int]
    missing: list[str] = field(default_factory=list)


def snapshot_path(settings: Settings) -> Path:
    return settings.data_dir / settings.reports.snapshot


def write_snapshot(settings: Settings, environment: str = PROD, now: dt.datetime | None = None) -> SnapshotResult:
    """Write the snapshot of `environment`'s current published version and switch it in atomically."""
    published = current_version(settings, environment)
    if published is None:
        raise PlatformError(f"Nothing has been published for {environment} yet: run `just run` first.")
    now = now or dt.datetime.now(dt.UTC)
    target = snapshot_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        with contextlib.closing(Lake(settings).attach(warehouse.connect(tmp))) as con:
            marts = _copy_marts(con, settings, published)
            con.execute("CREATE SCHEMA quality")
            quality, missing = _copy_quality(con, settings.meta_path)
            _write_status(con, settings, published, missing, now)
            con.execute("CHECKPOINT")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return SnapshotResult(path=target, version=published.version, marts=marts, quality=quality, missing=missing)


def _copy_marts(con, settings: Settings, published: Published) -> dict[str, int]:
    con.execute("CREATE SCHEMA marts")
    lake = Lake(settings)
    rows = {}
    for name, files in sorted(published.files.items()):
        if not lake.fs.glob(files):
            raise PlatformError(f"The published files of mart {name} are missing ({files}); run `just run` to publish again.")
        con.execute(f"CREATE TABLE marts.{name} AS {view_sql(settings, published, name, role=settings.reports.role)}")
        rows[name] = con.execute(f"SELECT count(*) FROM marts.{name}").fetchone()[0]
    return rows


def _copy_quality(con, meta_path: Path) -> tuple[dict[str, int], list[str]]:
    """Copy each quality table of the store; list those with nothing recorded yet."""
    counts, missing = {}, []
    rows_by_table = _read_meta(meta_path)
    for table, columns in QUALITY_TABLES.items():
        rows = rows_by_table.get(table, [])
        if not rows:
            missing.append(table)
        raw = pa.table({name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(columns)})
        con.register("raw_rows", raw)
        casts = ", ".join(_cast(name, sql_type) for name, sql_type in columns.items())
        con.execute(f"CREATE TABLE quality.{table} AS SELECT {casts} FROM raw_rows")
        con.unregister("raw_rows")
        counts[table] = len(rows)
    return counts, missing


def _cast(name: str, sql_type: str) -> str:
    if sql_type == "TIMESTAMP":
        # The store writes ISO 8601 text in UTC; the reports show UTC.
        return f"CAST(CAST({name} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) AS {name}"
    if sql_type == "BOOLEAN":
        return f"CAST(CAST({name} AS INTEGER) AS BOOLEAN) AS {name}"
    return f"CAST({name} AS {sql_type}) AS {name}"


def _read_meta(meta_path: Path) -> dict[str, list[tuple]]:
    """The declared columns of each quality table, as text; none before the store exists."""
    if not meta_path.exists():
        return {}
    found = {}
    with contextlib.closing(metastore.connect(meta_path)) as con:
        for table, columns in QUALITY_TABLES.items():
            select = ", ".join(f"CAST({name} AS TEXT)" for name in columns)
            found[table] = con.execute(f"SELECT {select} FROM {table}").fetchall()
    return found


def _write_status(con, settings: Settings, published, missing: list[str], now: dt.datetime) -> None:
    """`quality.snapshot` (one row), `quality.availability` and `quality.freshness` (one row per source)."""
    snapshot_at = now.astimezone(dt.UTC).replace(tzinfo=None)
    published_at = dt.datetime.fromisoformat(published.published_at).astimezone(dt.UTC).replace(tzinfo=None)
    con.execute(
        "CREATE TABLE quality.snapshot AS SELECT ?::TIMESTAMP AS snapshot_at, ?::VARCHAR AS version, ?::TIMESTAMP AS published_at",
        [snapshot_at, published.version, published_at],
    )
    con.execute("CREATE TABLE quality.availability (table_name VARCHAR, is_available BOOLEAN, detail VARCHAR)")
    for table in QUALITY_TABLES:
        detail = f"nothing recorded yet: filled by {QUALITY_OWNERS[table]}" if table in missing else "available"
        con.execute("INSERT INTO quality.availability VALUES (?, ?, ?)", [table, table not in missing, detail])
    con.execute(
        """
        CREATE TABLE quality.freshness (
            source VARCHAR, last_loaded_at TIMESTAMP, hours_since_load DOUBLE, sla_hours DOUBLE, status VARCHAR
        )"""
    )
    for name, source in settings.sources.items():
        last = con.execute(
            "SELECT max(finished_at) FROM quality.job_runs WHERE job = ? AND status = 'success'", [f"ingest:{name}"]
        ).fetchone()[0]
        hours = None if last is None else (snapshot_at - last).total_seconds() / 3600
        status = "never loaded" if hours is None else ("fresh" if hours <= source.freshness_sla_hours else "stale")
        con.execute("INSERT INTO quality.freshness VALUES (?, ?, ?, ?, ?)", [name, last, hours, source.freshness_sla_hours, status])
