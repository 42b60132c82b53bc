"""Read the metadata store (`data/meta.db`) for the health pages, tolerating what is not there yet.

Each feature creates its own tables when it first runs (the scheduler its
`scheduled_jobs` and `alerts`, the SQLMesh build its `audit_results`, ...), so a
reader meets a missing file or table before then: that is an empty state, not
an error.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pandas as pd

from core import runlog


def read_meta(meta_path: Path, sql: str, params: tuple | dict = ()) -> pd.DataFrame | None:
    """The query's rows, or None when the store or a table it reads does not exist yet."""
    if not meta_path.exists():
        return None
    with contextlib.closing(runlog.connect(meta_path)) as con:
        try:
            return pd.read_sql_query(sql, con, params=params)
        except (sqlite3.OperationalError, pd.errors.DatabaseError) as exc:
            if "no such table" in str(exc):
                return None
            raise
