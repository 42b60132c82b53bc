"""Data quality: SQLMesh audit results, contract checks with their quarantine, monitoring anomalies."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import duckdb
import pandas as pd

from app.queries.meta import read_meta
from core import warehouse
from core.lake import Lake
from core.privacy import PersonalColumn, hash_salt, masked_select, sees_personal
from core.settings import Settings

QUARANTINE = "_quarantine"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def audit_results(meta_path: Path, limit: int = 2000) -> pd.DataFrame | None:
    """Audit outcomes per model over time, newest first (table `audit_results`)."""
    return read_meta(
        meta_path,
        "SELECT checked_at, environment, model, audit, blocking, status, failed_rows FROM audit_results ORDER BY checked_at DESC LIMIT ?",
        (limit,),
    )


def latest_audits(meta_path: Path) -> pd.DataFrame | None:
    """The latest outcome of every (environment, model, audit); the long audit expression last, so the outcome shows first."""
    return read_meta(
        meta_path,
        """
        SELECT environment, model, status, failed_rows, blocking, checked_at, audit FROM (
          SELECT *, row_number() OVER (PARTITION BY environment, model, audit ORDER BY checked_at DESC) AS n
          FROM audit_results)
        WHERE n = 1 ORDER BY status = 'passed', environment, model, audit
        """,
    )


def contract_results(meta_path: Path, limit: int = 2000) -> pd.DataFrame | None:
    """Rows checked, valid and quarantined per table and load (table `contract_results`)."""
    return read_meta(
        meta_path,
        "SELECT checked_at, source, table_name, load_id, rows_in, rows_valid, rows_quarantined FROM contract_results "
        "ORDER BY checked_at DESC LIMIT ?",
        (limit,),
    )


def rejected_files(meta_path: Path, limit: int = 500) -> pd.DataFrame | None:
    """Landed files whose latest taking rejected them, newest first, with the reason (table `landing_files`)."""
    return read_meta(
        meta_path,
        """
        SELECT processed_at, source, table_name, path, reason, load_id FROM (
          SELECT *, row_number() OVER (PARTITION BY source, path, fingerprint ORDER BY processed_at DESC, load_id DESC) AS n
          FROM landing_files)
        WHERE n = 1 AND status = 'rejected' ORDER BY processed_at DESC LIMIT ?
        """,
        (limit,),
    )


def anomalies(meta_path: Path, limit: int = 500) -> pd.DataFrame | None:
    """Monitoring checks that did not pass, newest first (table `monitor_results`)."""
    return read_meta(
        meta_path,
        "SELECT checked_at, check_name, subject, status, value, threshold, detail FROM monitor_results "
        "WHERE status != 'ok' ORDER BY checked_at DESC LIMIT ?",
        (limit,),
    )


def last_monitor_check(meta_path: Path) -> str | None:
    """When the monitor last recorded its checks (ISO UTC), or None when it never ran (or was reset since)."""
    frame = read_meta(meta_path, "SELECT max(checked_at) AS checked_at FROM monitor_results")
    return None if frame is None or frame.empty else frame["checked_at"].iloc[0]


def quarantined_tables(settings: Settings) -> list[tuple[str, str]]:
    """(source, table) pairs that have quarantined rows in the lake."""
    lake = Lake(settings)
    found = []
    for source in settings.sources:
        folder = Path(lake.url("raw", source, QUARANTINE))
        if folder.is_dir():
            found += [(source, p.name) for p in sorted(folder.iterdir()) if p.is_dir() and any(p.glob("*.parquet"))]
    return found


def quarantine_sample(settings: Settings, source: str, table: str, *, role: str | None, limit: int = 50) -> pd.DataFrame:
    """Up to `limit` quarantined rows of `source.table`, newest loads first; its personal columns masked unless `role` sees them."""
    if source not in settings.sources or not _NAME.match(table):
        raise ValueError(f"not a declared source and table: {source}.{table}")
    files = Path(Lake(settings).url("raw", source, QUARANTINE, table)) / "*.parquet"
    select = f"SELECT * FROM read_parquet({warehouse.sql_literal(files)}, union_by_name := true)"
    with contextlib.closing(warehouse.connect()) as con:
        try:
            rows = con.sql(select)
            declared = settings.sources[source].tables.get(table)
            if declared is not None and declared.personal and not sees_personal(settings, role):
                origin = f"{source}.{table}"
                personal = {c: PersonalColumn(mask, (f"{origin}.{c}",)) for c, mask in declared.personal.items() if c in rows.columns}
                masked = masked_select(select, personal, hash_salt(settings))
                if {"_column", "_failure"} <= set(rows.columns):  # the failing value, when it is a personal column's
                    names = ", ".join(warehouse.sql_literal(c) for c in declared.personal)
                    masked = f"SELECT * REPLACE (CASE WHEN _column IN ({names}) THEN NULL ELSE _failure END AS _failure) FROM ({masked})"
                rows = con.sql(masked)
        except duckdb.IOException:
            return pd.DataFrame()
        order = next((c for c in ("_quarantined_at", "_dlt_load_id") if c in rows.columns), None)
        if order:
            rows = rows.order(f'"{order}" DESC')
        return rows.limit(limit).df()
