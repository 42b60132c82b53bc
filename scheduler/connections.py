"""`just connections`: every configured source, storage endpoint and alert channel, checked live, secrets masked."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from core.buckets import probe
from core.lake import Lake
from core.settings import Settings

CONNECT_TIMEOUT_SECONDS = 3


@dataclass
class Connection:
    kind: str
    name: str
    endpoint: str
    reachable: bool
    detail: str


def mask(url: str) -> str:
    """Scheme, host and port only: paths, queries and user info of URLs often carry tokens."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "***"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/***"


def check_all(settings: Settings) -> list[Connection]:
    return [*_sources(settings), *_storage(settings), *_channels(settings)]


def _sources(settings: Settings) -> list[Connection]:
    return [_source(settings, name, source) for name, source in settings.sources.items()]


def _source(settings: Settings, name: str, source) -> Connection:
    """A live check per kind: open the SQLite file, reach the database or API host, find the landing area."""
    if source.kind == "sqlite":
        path = settings.source_path(name)
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_SECONDS)) as con:
                tables = con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            return Connection("source", name, f"sqlite:{path}", True, f"{tables} tables")
        except sqlite3.Error as exc:
            return Connection("source", name, f"sqlite:{path}", False, str(exc))
    if source.kind == "postgres":
        endpoint = f"postgres://{source.user}:***@{source.host}:{source.port}/{source.database}"
        return Connection("source", name, endpoint, *_tcp(source.host, source.port))
    if source.kind == "rest_api":
        parts = urllib.parse.urlsplit(source.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return Connection("source", name, mask(source.base_url), *_tcp(parts.hostname or "", port))
    from ingest.landing import landing_root

    root = landing_root(settings, name)
    if root.startswith("s3://"):
        return Connection("source", name, f"files:{root}", True, "landing prefix in the lake (see the lake's row)")
    exists = Path(root).is_dir()
    return Connection("source", name, f"files:{root}", exists, "landing folder present" if exists else "landing folder not created yet")


def _storage(settings: Settings) -> list[Connection]:
    found = _lake(settings)
    for name, path in (("warehouse", settings.warehouse_path), ("metadata", settings.meta_path)):
        exists = path.exists()
        found.append(Connection("storage", name, f"local:{path}", exists, "present" if exists else "not created yet"))
    return found


def _lake(settings: Settings) -> list[Connection]:
    """The local lake folder, or the S3 store: reachable, keys accepted, and each layer's bucket with its usage."""
    if settings.lake.backend == "local":
        exists = settings.lake_root.exists()
        return [Connection("storage", "lake", f"local:{settings.lake_root}", exists, "present" if exists else "not created yet")]
    lake = Lake(settings)
    store = probe(lake)
    keys = f"keys from {settings.lake.s3.access_key_env} / {settings.lake.s3.secret_key_env}"
    found = [Connection("storage", "lake", f"s3:{store.endpoint}", store.status == "ok", f"{store.detail} ({keys})")]
    for bucket in store.buckets:
        where = lake.url(bucket.layer)
        if bucket.present:
            found.append(
                Connection("storage", f"lake.{bucket.layer}", where, True, f"{bucket.objects:,} objects, {bucket.bytes / 1e6:.1f} MB")
            )
        else:
            found.append(
                Connection("storage", f"lake.{bucket.layer}", where, False, "bucket missing: `just minio-buckets` or `just run` creates it")
            )
    return found


def _channels(settings: Settings) -> list[Connection]:
    found = []
    for name, channel in settings.alerts.channels.items():
        if channel.kind == "log":
            found.append(Connection("alerts", name, "structured log", True, "data/logs/scheduler.log"))
            continue
        if channel.kind == "webhook":
            url = settings.secret(f"{channel.secret_env(name)}")
            parts = urllib.parse.urlsplit(url)
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
            endpoint = mask(url)
        else:
            host, port = channel.smtp_host, channel.smtp_port
            user = f"{channel.username}:***@" if channel.username else ""
            endpoint = f"smtp://{user}{host}:{port} to {', '.join(channel.to)}"
        found.append(Connection("alerts", name, endpoint, *_tcp(host, port)))
    return found


def _tcp(host: str, port: int) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            return True, "accepts connections"
    except OSError as exc:
        return False, exc.strerror or type(exc).__name__
