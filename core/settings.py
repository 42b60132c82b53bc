"""The platform's one typed settings object, read from `config.yaml` and the environment.

`config.yaml` is also SQLMesh's project config, so the platform's keys live under
`variables.platform`. Any key can be overridden from the environment as
`PLATFORM__<SECTION>__<KEY>` (values are parsed as YAML scalars). Secrets are
never read from the yaml: only from the environment or `.env`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError, model_validator

from core.errors import PlatformError

ENV_PREFIX = "PLATFORM__"
CONFIG_FILE = "config.yaml"

# Source and table names become SQL identifiers and lake paths: keep them plain.
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")]
# S3 bucket naming rules (3-63 characters, lower case, digits, dots and hyphens).
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3BucketSettings(_Strict):
    """The bucket that holds each layer of the lake (medallion: bronze, silver, gold)."""

    raw: BucketName = "raw"
    staging: BucketName = "staging"
    curated: BucketName = "curated"


class S3Settings(_Strict):
    """An S3-compatible object store (MinIO, AWS S3, ...). Keys come only from the environment."""

    endpoint: str = Field("127.0.0.1:9000", description="host:port of the store (a scheme, if given, must agree with use_tls).")
    region: str = "us-east-1"
    path_style: bool = Field(True, description="Path-style addressing (MinIO); false for virtual-hosted buckets.")
    use_tls: bool = False
    buckets: S3BucketSettings = S3BucketSettings()
    prefix: str = Field("", pattern=r"^([a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*)?$", description="Key prefix inside every bucket.")
    access_key_env: str = Field("LAKE_S3_ACCESS_KEY_ID", description="Environment variable that holds the access key id.")
    secret_key_env: str = Field("LAKE_S3_SECRET_ACCESS_KEY", description="Environment variable that holds the secret key.")
    retry_seconds: float = Field(30, ge=0, description="How long an unreachable endpoint is retried, with backoff.")
    console_port: int = Field(9001, ge=1, le=65535, description="Port of the MinIO web console (`just minio`, `just minio-console`).")

    @model_validator(mode="after")
    def _scheme_agrees_with_tls(self) -> "S3Settings":
        scheme = self.endpoint.split("://", 1)[0] if "://" in self.endpoint else None
        if scheme is not None and scheme != ("https" if self.use_tls else "http"):
            raise ValueError(f"endpoint {self.endpoint!r} says {scheme} but use_tls is {str(self.use_tls).lower()}")
        return self

    @property
    def endpoint_host(self) -> str:
        """host:port, without a scheme (DuckDB's form)."""
        return self.endpoint.split("://", 1)[-1].rstrip("/")

    @property
    def endpoint_url(self) -> str:
        return ("https://" if self.use_tls else "http://") + self.endpoint_host


class LakeSettings(_Strict):
    """Where the raw, staging and curated layers live."""

    backend: Literal["local", "s3"] = "local"
    root: str = Field("lake", description="Folder of the local lake; relative to data_dir.")
    s3: S3Settings = S3Settings()


@dataclass(frozen=True)
class S3Credentials:
    """The lake's S3 keys, read from the environment at startup; the secret never shows in a repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


class DemoSettings(_Strict):
    """The generated demo shop database."""

    seed: int = 42
    scale: float = Field(1.0, gt=0, description="1.0 is 100,000 orders.")
    source: str = Field("shop", description="The declared source that the demo generates.")
    start_date: dt.date = dt.date(2025, 1, 1)
    history_days: int = Field(180, ge=7)


class TableSettings(_Strict):
    """One table of a SQL source: its key and its incremental cursor."""

    primary_key: str = "id"
    cursor: str = "updated_at"


class SourceSettings(_Strict):
    """One source, declared once: ingestion, scheduling and health views read this."""

    kind: Literal["sqlite"]
    path: str = Field(description="Database file; relative paths are under data_dir.")
    tables: dict[Identifier, TableSettings]
    chunk_size: int = Field(100_000, ge=1_000)


class RunSettings(_Strict):
    """How `just run` behaves."""

    lock_wait_seconds: float = Field(600, ge=0)
    publish_keep_versions: int = Field(3, ge=1)


class Settings(_Strict):
    """Everything the platform needs to know, validated once per entry point."""

    project_dir: Path
    data_dir: Path
    lake: LakeSettings = LakeSettings()
    demo: DemoSettings = DemoSettings()
    sources: dict[Identifier, SourceSettings]
    run: RunSettings = RunSettings()
    _lake_credentials: S3Credentials | None = PrivateAttr(None)

    @property
    def lake_credentials(self) -> S3Credentials | None:
        """The S3 keys of an s3 lake (None for a local one); never part of a dump or repr."""
        return self._lake_credentials

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def meta_path(self) -> Path:
        return self.data_dir / "meta.db"

    @property
    def lake_root(self) -> Path:
        return self.data_dir / self.lake.root

    def source_path(self, name: str) -> Path:
        return self.data_dir / self.sources[name].path


def load_settings(project_dir: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `config.yaml` in `project_dir`, apply `.env` and `PLATFORM__` overrides, validate."""
    project_dir = (project_dir or Path.cwd()).resolve()
    config_file = project_dir / CONFIG_FILE
    if env is None:
        env = {**dotenv_values(project_dir / ".env"), **os.environ}
    raw = _read_platform_section(config_file)
    overrides = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and v is not None}
    for name, value in sorted(overrides.items()):
        _apply_override(raw, name, value)
    raw.setdefault("data_dir", "data")
    data_dir = Path(str(raw["data_dir"]))
    raw["data_dir"] = data_dir if data_dir.is_absolute() else project_dir / data_dir
    raw["project_dir"] = project_dir
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise PlatformError(_describe(exc, config_file, overrides)) from None
    if settings.lake.backend == "s3":
        settings._lake_credentials = _s3_credentials(settings.lake.s3, env)
    return settings


def _s3_credentials(s3: S3Settings, env: Mapping[str, str | None]) -> S3Credentials:
    """Both keys of an s3 lake must be set: fail at startup, naming the variable, never showing a value."""
    missing = [name for name in (s3.access_key_env, s3.secret_key_env) if not env.get(name)]
    if missing:
        raise PlatformError(
            f"The lake's backend is s3 ({s3.endpoint}) but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: put the keys in the environment or `.env` (see .env.example)."
        )
    return S3Credentials(access_key_id=str(env[s3.access_key_env]), secret_access_key=str(env[s3.secret_key_env]))


def _read_platform_section(config_file: Path) -> dict[str, Any]:
    if not config_file.is_file():
        raise PlatformError(f"No {CONFIG_FILE} in {config_file.parent}: run from the project folder.")
    try:
        document = yaml.safe_load(config_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PlatformError(f"{config_file} is not valid YAML: {exc}") from None
    section = (document.get("variables") or {}).get("platform")
    if not isinstance(section, dict):
        raise PlatformError(f"{config_file}: the platform's settings belong under `variables.platform`.")
    return section


def _apply_override(raw: dict[str, Any], name: str, value: str) -> None:
    path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
    node = raw
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = yaml.safe_load(value) if value.strip() else value


def _describe(exc: ValidationError, config_file: Path, overrides: Mapping[str, str]) -> str:
    lines = [f"Invalid settings in {config_file} (under variables.platform):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        env_name = ENV_PREFIX + "__".join(str(part).upper() for part in error["loc"])
        origin = f" (from environment variable {env_name})" if env_name in overrides else ""
        if error["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        else:
            message = error["msg"]
        lines.append(f"  - {key}{origin}: {message}")
    return "\n".join(lines)
