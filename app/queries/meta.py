"""Read the metadata store (`data/meta.db`) for the health pages, tolerating what is not there yet.

Before anything has run there is no store: that is an empty state, not an
error. Opening the store brings it to the current schema (core/metastore.py),
so its tables exist from then on, empty until their feature first runs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from core import metastore


def read_meta(meta_path: Path, sql: str, params: tuple | dict = ()) -> pd.DataFrame | None:
    """The query's rows, or None when the store does not exist yet."""
    if not meta_path.exists():
        return None
    with contextlib.closing(metastore.connect(meta_path)) as con:
        return pd.read_sql_query(sql, con, params=params)
