"""A throwaway PostgreSQL 15 cluster on loopback, for the tests of Postgres sources."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "pg-test-password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A fresh cluster in a temp folder, run as the `postgres` user (the tests run as root), stopped at the end."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 is not installed (.ci/run installs Debian's `postgresql`)")
    folder = Path(tempfile.mkdtemp(prefix="duckstack-pg-"))
    data, port = folder / "data", _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    (folder / "pw").write_text(PASSWORD)
    if as_user:
        os.chown(folder / "pw", owner.pw_uid, owner.pw_gid)
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)
    run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "shop", f"--pwfile={folder / 'pw'}", "--auth=scram-sha-256", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        yield {"host": "127.0.0.1", "port": port, "user": "shop", "database": "postgres"}
    finally:
        run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def connect(pg: dict) -> psycopg.Connection:
    return psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=pg["database"], password=PASSWORD, autocommit=True)


def source_of(pg: dict, schema: str, tables: dict, **settings) -> dict:
    """A `postgres` source declaration reading `tables` of `schema` on the throwaway cluster `pg`; its password is
    in PG_PASSWORD (pass `PG_PASSWORD=PASSWORD` to settings_with_sources)."""
    return {
        "kind": "postgres",
        "host": pg["host"],
        "port": pg["port"],
        "database": pg["database"],
        "user": pg["user"],
        "password_env": "PG_PASSWORD",
        "db_schema": schema,
        "tables": tables,
        **settings,
    }
