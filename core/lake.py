"""The lake's layout: `lake://<layer>/<source>/<table>/...` mapped onto a storage backend.

Only this module knows where a layer physically lives, so that every stage's code
is the same on both backends:
- `local`: `<data_dir>/<root>/<layer>/<source>/<table>/...`
- `s3`: `s3://<bucket of the layer>/<prefix>/<source>/<table>/...` on any
  S3-compatible store (MinIO, AWS S3), with DuckDB reading through httpfs.
The S3 keys come from the settings' credentials (read from the environment at
startup); DuckDB gets them as a temporary secret, never persisted or logged.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import fsspec

from core.buckets import ensure_buckets
from core.settings import Settings
from core.settings_lake import S3Credentials
from core.warehouse import load_extensions, sql_literal

LAYERS = ("raw", "staging", "curated")
# `lake://raw/<source>/<table>__deleted/`: keys found gone from the source (hard-delete detection).
DELETED_SUFFIX = "__deleted"
# `lake://raw/landing/<source>/`: where file drops land on the s3 backend.
LANDING_PREFIX = "landing"
SECRET_NAME = "lake_s3"


class Lake:
    """Resolves lake addresses for one settings object and does the few file operations the stages need."""

    def __init__(self, settings: Settings) -> None:
        self.backend = settings.lake.backend
        self.root = settings.lake_root
        self.s3 = settings.lake.s3
        self.credentials: S3Credentials | None = settings.lake_credentials
        if self.backend == "s3" and self.credentials is None:
            raise ValueError("an s3 lake needs credentials: load the settings with core.settings.load_settings")

    # --- addresses -------------------------------------------------------------------------

    def url(self, layer: str, *parts: str) -> str:
        """Where `lake://<layer>/<parts...>` lives: a local path or an `s3://` URL."""
        if layer not in LAYERS:
            raise ValueError(f"unknown lake layer {layer!r}; expected one of {LAYERS}")
        if self.backend == "local":
            return str(self.root.joinpath(layer, *parts))
        bucket = getattr(self.s3.buckets, layer)
        return "/".join([f"s3://{bucket}", *(p for p in (self.s3.prefix, *parts) if p)])

    def parquet_glob(self, layer: str, source: str, table: str) -> str:
        return self.url(layer, source, table) + "/*.parquet"

    def buckets(self) -> dict[str, str]:
        """The bucket of each layer (s3 backend)."""
        return {layer: getattr(self.s3.buckets, layer) for layer in LAYERS}

    def ensure_layers(self) -> None:
        """Make every layer exist: folders locally; buckets on S3, created when missing (idempotent)."""
        if self.backend == "local":
            for layer in LAYERS:
                Path(self.url(layer)).mkdir(parents=True, exist_ok=True)
            return
        ensure_buckets(self)

    # --- DuckDB, dlt and fsspec access -----------------------------------------------------

    def duckdb_secret(self) -> dict[str, str]:
        """The S3 secret's parameters as DuckDB's `CREATE SECRET` takes them (s3 backend)."""
        assert self.credentials is not None
        return {
            "type": "s3",
            "key_id": self.credentials.access_key_id,
            "secret": self.credentials.secret_access_key,
            "region": self.s3.region,
            "endpoint": self.s3.endpoint_host,
            "url_style": "path" if self.s3.path_style else "vhost",
            "use_ssl": "true" if self.s3.use_tls else "false",
        }

    def attach(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """Let a DuckDB connection read and write the lake: httpfs from its wheel plus a temporary S3 secret."""
        if self.backend == "s3":
            load_extensions(con, ("httpfs",))
            options = ", ".join(f"{key.upper()} {sql_literal(value)}" for key, value in self.duckdb_secret().items() if key != "type")
            con.execute(f"CREATE OR REPLACE TEMPORARY SECRET {SECRET_NAME} (TYPE s3, {options})")
        return con

    def fsspec_options(self) -> dict[str, Any]:
        """Keyword arguments of `s3fs.S3FileSystem` for this lake (s3 backend)."""
        assert self.credentials is not None
        return {
            "key": self.credentials.access_key_id,
            "secret": self.credentials.secret_access_key,
            "endpoint_url": self.s3.endpoint_url,
            "client_kwargs": {"region_name": self.s3.region},
            "config_kwargs": {
                "s3": {"addressing_style": "path" if self.s3.path_style else "virtual"},
                "connect_timeout": 5,
                "read_timeout": 60,
                "retries": {"max_attempts": 3, "mode": "standard"},
                # S3-compatible stores (MinIO, moto) do not all speak the newest checksum headers.
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            },
        }

    def dlt_destination(self, layer: str, layout: str):
        """dlt's filesystem destination writing to `lake://<layer>/<dataset>/...` on this backend."""
        from dlt.common.configuration.specs import AwsCredentials
        from dlt.destinations import filesystem

        if self.backend == "local":
            return filesystem(bucket_url=self.url(layer), layout=layout)
        options = self.fsspec_options()
        credentials = AwsCredentials(
            aws_access_key_id=options["key"],
            aws_secret_access_key=options["secret"],
            endpoint_url=options["endpoint_url"],
            region_name=self.s3.region,
            s3_url_style="path" if self.s3.path_style else "vhost",
        )
        return filesystem(
            bucket_url=self.url(layer), layout=layout, credentials=credentials, kwargs={"config_kwargs": options["config_kwargs"]}
        )

    @functools.cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self.backend == "local":
            return fsspec.filesystem("file")
        return fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False, **self.fsspec_options())

    # --- file operations -------------------------------------------------------------------

    def exists(self, url: str) -> bool:
        return self.fs.exists(url)

    def read_text(self, url: str) -> str | None:
        """The object's text, or None when it does not exist."""
        try:
            with self.fs.open(url, "r") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write_text_atomic(self, url: str, text: str) -> None:
        """Replace an object in one step: a single PUT on S3, write-then-rename locally."""
        self.write_bytes_atomic(url, text.encode())

    def write_bytes_atomic(self, url: str, data: bytes) -> None:
        """Write an object in one step: a single PUT on S3, write-then-rename locally."""
        if self.backend == "s3":
            self.fs.pipe_file(url, data)
            return
        path = Path(url)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def put_file_atomic(self, local: Path, url: str) -> None:
        """Copy a local file into the lake in one step: an S3 upload appears whole once it completes;
        locally, copied aside, then renamed."""
        if self.backend == "s3":
            self.fs.put_file(str(local), url)
            return
        path = Path(url)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        shutil.copyfile(local, tmp)
        os.replace(tmp, path)

    def make_folder(self, url: str) -> None:
        """Create a folder before DuckDB writes into it (object stores have no folders)."""
        if self.backend == "local":
            Path(url).mkdir(parents=True, exist_ok=True)

    def subfolders(self, url: str) -> list[str]:
        """The immediate subfolders of `url`, as lake URLs, sorted."""
        try:
            entries = self.fs.ls(url, detail=True)
        except FileNotFoundError:
            return []
        return sorted(self._as_url(entry["name"]) for entry in entries if entry["type"] == "directory")

    def files(self, url: str) -> list[str]:
        """Every file below `url`, as lake URLs, sorted."""
        try:
            return sorted(self._as_url(name) for name in self.fs.find(url))
        except FileNotFoundError:
            return []

    def remove_tree(self, url: str) -> None:
        try:
            self.fs.rm(url, recursive=True)
        except FileNotFoundError:
            pass

    def _as_url(self, name: str) -> str:
        return name if self.backend == "local" or name.startswith("s3://") else f"s3://{name}"


@dataclass(frozen=True)
class LakeFile:
    """One file of a layer: its path below the layer, size in bytes and last write (UTC)."""

    path: str
    size: int
    modified: dt.datetime


def list_files(settings: Settings, layer: str) -> Iterator[LakeFile]:
    """Every file of a layer, on either backend, for usage and health views."""
    lake = Lake(settings)
    root = lake.url(layer)
    try:
        entries = lake.fs.find(root, detail=True)
    except FileNotFoundError:
        return
    prefix = root.removeprefix("s3://").rstrip("/") + "/"
    for name, info in entries.items():
        modified = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
        if isinstance(modified, (int, float)):
            modified = dt.datetime.fromtimestamp(modified, tz=dt.UTC)
        yield LakeFile(name.removeprefix("s3://").removeprefix(prefix), int(info.get("size") or 0), modified)
