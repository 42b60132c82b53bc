"""The access log: who read what and when, through the data API (by key) and the app (by user).

One row per read in the metadata store's `access_log` (schema in core/metastore.py). Callers
pass names only: the key's or user's name, the route or page, the mart or metric, the
published version read, the client's address, and the names of the parameters and filter
columns; never a key, a password, a hash or a value filtered on, which could be personal (an
e-mail address). A refused login is a row too (`login_refused`), naming the user only when
it is a configured one: a name typed into the login form may be a password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pandas as pd

from core.metastore import connect

API, APP = "api", "app"
ANONYMOUS = "anonymous"  # the app's user when no logins are configured
UNKNOWN_USER = "(unknown user)"  # a refused login under a name that is not a configured user
LOGIN = "login"
COLUMNS = ("accessed_at", "channel", "principal", "action", "subject", "rows", "status", "detail", "version", "client")


def record(
    meta_path: Path,
    *,
    channel: str,
    principal: str,
    action: str,
    subject: str | None = None,
    rows: int | None = None,
    status: int | None = None,
    detail: str | None = None,
    version: str | None = None,
    client: str | None = None,
) -> None:
    """Append one read to the log."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    with contextlib.closing(connect(meta_path)) as con, con:
        con.execute(
            f"INSERT INTO access_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            (now, channel, principal, action, subject, rows, status, detail, version, client),
        )


def login_refused(meta_path: Path, *, user: str, known: bool, client: str | None = None, reason: str = "wrong password") -> None:
    """Log a refused login to the app: the user's name when `known` (a configured user), else only that it was unknown.

    `reason` says why (wrong password, throttled); it must never hold what was typed."""
    record(
        meta_path,
        channel=APP,
        principal=user if known else UNKNOWN_USER,
        action=LOGIN,
        status=401,
        detail=reason,
        client=client,
    )


def recent(meta_path: Path, since: dt.datetime, channel: str | None = None, principal: str | None = None) -> pd.DataFrame | None:
    """The reads since `since`, newest first, optionally of one channel or principal; None before the store exists."""
    if not meta_path.exists():
        return None
    conditions, params = ["accessed_at >= ?"], [since.isoformat(timespec="milliseconds")]
    if channel:
        conditions.append("channel = ?")
        params.append(channel)
    if principal:
        conditions.append("principal = ?")
        params.append(principal)
    with contextlib.closing(connect(meta_path)) as con:
        return pd.read_sql_query(
            f"SELECT {', '.join(COLUMNS)} FROM access_log WHERE {' AND '.join(conditions)} ORDER BY accessed_at DESC, rowid DESC",
            con,
            params=tuple(params),
        )


def prune(meta_path: Path, older_than: dt.datetime) -> int:
    """Delete reads from before `older_than` (the `jobs.access_log_days` retention)."""
    with contextlib.closing(connect(meta_path)) as con, con:
        return con.execute("DELETE FROM access_log WHERE accessed_at < ?", (older_than.isoformat(timespec="milliseconds"),)).rowcount
