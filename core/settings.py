"""The platform's one typed settings object, read from `config.yaml` and the environment.

`config.yaml` is also SQLMesh's project config, so the platform's keys live under
`variables.platform`. Any key can be overridden from the environment as
`PLATFORM__<SECTION>__<KEY>` (values are parsed as YAML scalars). Secrets are
never read from the yaml: only from the environment or `.env`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from core.errors import PlatformError

ENV_PREFIX = "PLATFORM__"
CONFIG_FILE = "config.yaml"

# Source and table names become SQL identifiers and lake paths: keep them plain.
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LakeSettings(_Strict):
    """Where the raw, staging and curated layers live."""

    backend: Literal["local"] = "local"
    root: str = Field("lake", description="Folder of the local lake; relative to data_dir.")


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
    schedule: str = "0 * * * *"
    freshness_sla_hours: float = 26


class RunSettings(_Strict):
    """How `just run` behaves."""

    lock_wait_seconds: float = Field(600, ge=0)
    publish_keep_versions: int = Field(3, ge=1)


class ReportsSettings(_Strict):
    """The Evidence reports (`app/reports/`): their data snapshot and how long each Node step may take."""

    snapshot: str = Field("reports/published.duckdb", description="DuckDB file the reports read; relative to data_dir.")
    install_timeout_seconds: float = Field(600, gt=0, description="`npm ci` from the lockfile.")
    sources_timeout_seconds: float = Field(300, gt=0, description="`evidence sources`: the source queries.")
    build_timeout_seconds: float = Field(1200, gt=0, description="`evidence build`: the static site.")


class Settings(_Strict):
    """Everything the platform needs to know, validated once per entry point."""

    project_dir: Path
    data_dir: Path
    lake: LakeSettings = LakeSettings()
    demo: DemoSettings = DemoSettings()
    sources: dict[Identifier, SourceSettings]
    run: RunSettings = RunSettings()
    reports: ReportsSettings = ReportsSettings()

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
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise PlatformError(_describe(exc, config_file, overrides)) from None


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
