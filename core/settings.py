"""The platform's one typed settings object, read from `config.yaml` and the environment.

`config.yaml` is also SQLMesh's project config, so the platform's keys live under
`variables.platform`. Any key can be overridden from the environment as
`PLATFORM__<SECTION>__<KEY>` (values are parsed as YAML scalars). Secrets are
never read from the yaml: only from the environment or `.env`.

The sections are declared beside it, by concern: `settings_sources` (the
sources and their tables), `settings_lake` (where the data lives),
`settings_operations` (runs, jobs, alerts, monitoring, the app and reports);
`settings_fields` holds the field types they share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError

from core.errors import PlatformError
from core.settings_fields import Identifier, Strict
from core.settings_lake import LakeSettings, S3Credentials
from core.settings_operations import (
    AlertsSettings,
    ApiSettings,
    AppSettings,
    JobsSettings,
    MonitoringSettings,
    PrivacySettings,
    ReportsSettings,
    RunSettings,
    TransformSettings,
)
from core.settings_sources import (
    SOURCE_KINDS,
    DemoSettings,
    FilesSource,
    PostgresSource,
    RestApiSource,
    SourceSettings,
    SqliteSource,
)

SourceT = TypeVar("SourceT", SqliteSource, PostgresSource, RestApiSource, FilesSource)
ENV_PREFIX = "PLATFORM__"
CONFIG_FILE = "config.yaml"


class Settings(Strict):
    """Everything the platform needs to know, validated once per entry point."""

    project_dir: Path
    data_dir: Path
    lake: LakeSettings = LakeSettings()
    demo: DemoSettings = DemoSettings()
    sources: dict[Identifier, SourceSettings]
    run: RunSettings = RunSettings()
    transform: TransformSettings = TransformSettings()
    jobs: JobsSettings = JobsSettings()
    alerts: AlertsSettings = AlertsSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    app: AppSettings = AppSettings()
    reports: ReportsSettings = ReportsSettings()
    api: ApiSettings = ApiSettings()
    privacy: PrivacySettings = PrivacySettings()
    secrets: dict[str, SecretStr] = Field({}, description="Filled from the environment, never from config.yaml.")

    @property
    def lake_credentials(self) -> S3Credentials | None:
        """The S3 keys of an s3 lake (None for a local one); never part of a dump or repr."""
        if self.lake.backend != "s3":
            return None
        s3 = self.lake.s3
        return S3Credentials(access_key_id=self.secret(s3.access_key_env), secret_access_key=self.secret(s3.secret_key_env))

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def meta_path(self) -> Path:
        return self.data_dir / "meta.db"

    @property
    def lake_root(self) -> Path:
        return self.data_dir / self.lake.root

    def source_of_kind(self, name: str, kind: type[SourceT]) -> SourceT:
        """Source `name` as the kind the caller handles (callers dispatch on `kind` first)."""
        source = self.sources[name]
        if not isinstance(source, kind):
            raise TypeError(f"source {name!r} is a {source.kind} source, not a {kind.__name__}")
        return source

    def source_path(self, name: str) -> Path:
        return self.data_dir / self.source_of_kind(name, SqliteSource).path

    def landing_path(self, name: str) -> Path:
        """The local landing folder (see ingest.landing.landing_root for lake addresses and the s3 backend)."""
        landing = self.source_of_kind(name, FilesSource).landing or f"landing/{name}"
        return self.data_dir / landing

    def secret(self, env_name: str) -> str:
        return self.secrets[env_name].get_secret_value()


def load_settings(project_dir: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `config.yaml` in `project_dir`, apply `.env` and `PLATFORM__` overrides, validate."""
    project_dir = (project_dir or Path.cwd()).resolve()
    config_file = project_dir / CONFIG_FILE
    if env is None:
        env = {name: value for name, value in {**dotenv_values(project_dir / ".env"), **os.environ}.items() if value is not None}
    raw = _read_platform_section(config_file)
    overrides = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and v is not None}
    for name, value in sorted(overrides.items()):
        _apply_override(raw, name, value)
    raw["data_dir"] = data_folder(raw.get("data_dir", "data"), project_dir)
    raw["project_dir"] = project_dir
    raw.pop("secrets", None)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise PlatformError(_describe(exc, config_file, overrides)) from None
    if not settings.demo.enabled:  # the demo shop is off: its source is not run (its models are not loaded: transform/)
        settings = settings.model_copy(update={"sources": {k: v for k, v in settings.sources.items() if k != settings.demo.source}})
    return settings.model_copy(update={"secrets": _read_secrets(settings, env)})


# Files that mark a folder as a project or repository: never a data folder, which `just clean` empties.
PROJECT_MARKERS = (".git", "pyproject.toml", CONFIG_FILE, "justfile")


def data_folder(value: Any, project_dir: Path) -> Path:
    """The data folder `data_dir` names (relative to the project), refused when it is empty, the
    filesystem's root, the project folder or one holding it, or a folder holding a project's files:
    everything the platform writes goes there, and `just clean` deletes from it."""
    where = "data_dir (variables.platform.data_dir in config.yaml, or PLATFORM__DATA_DIR)"
    text = "" if value is None else str(value).strip()
    if not text:
        raise PlatformError(f"{where} is empty: set it to the folder for the platform's data, e.g. `data`.")
    path = Path(text).expanduser()
    path = path if path.is_absolute() else project_dir / path
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise PlatformError(f"{where} is {text!r}, the filesystem's root: set it to a folder of its own, e.g. `data`.")
    if resolved == project_dir or resolved in project_dir.parents:
        raise PlatformError(
            f"{where} is {text!r}, which is the project folder {project_dir} or holds it: set it to a folder of its own, e.g. `data`."
        )
    markers = [name for name in PROJECT_MARKERS if (resolved / name).exists()]
    if markers:
        raise PlatformError(
            f"{where} is {text!r}, a folder holding {', '.join(markers)}: a project's files, not the platform's data. "
            "Set it to a folder of its own, e.g. `data`."
        )
    return path


def _read_secrets(settings: Settings, env: Mapping[str, str | None]) -> dict[str, SecretStr]:
    """Every secret the settings name; a missing one stops startup with its name, never its value."""
    secrets = {}
    if settings.lake.backend == "s3":
        s3 = settings.lake.s3
        missing = [name for name in (s3.access_key_env, s3.secret_key_env) if not env.get(name)]
        if missing:
            raise PlatformError(
                f"The lake's backend is s3 ({s3.endpoint}) but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set: put the keys in the environment or `.env` (see .env.example)."
            )
        secrets.update({name: SecretStr(str(env[name])) for name in (s3.access_key_env, s3.secret_key_env)})
    for name, source in settings.sources.items():
        for env_name in source.secret_envs():
            value = env.get(env_name)
            if not value:
                raise PlatformError(
                    f"Source '{name}' needs the environment variable {env_name} (a secret): set it in the environment or in .env."
                )
            secrets[env_name] = SecretStr(value)
    for name, channel in settings.alerts.channels.items():
        channel_env = channel.secret_env(name)
        if channel_env is None:
            continue
        if not env.get(channel_env):
            what = "webhook URL" if channel.kind == "webhook" else "SMTP password"
            raise PlatformError(
                f"Alert channel '{name}' ({channel.kind}) needs its {what} in the environment variable {channel_env}: "
                "set it in the environment or in .env."
            )
        secrets[channel_env] = SecretStr(str(env[channel_env]))
    salt = env.get(settings.privacy.hash_salt_env)
    if salt:  # optional: without it the data folder keeps a salt of its own (core/privacy.py)
        secrets[settings.privacy.hash_salt_env] = SecretStr(salt)
    return secrets


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key given twice in one mapping (SQLMesh, reading the same file, refuses it too)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise PlatformError(
                    f"{self.name}, line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                    f"(first given on line {seen[key].start_mark.line + 1}); keep one of them."
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _read_platform_section(config_file: Path) -> dict[str, Any]:
    if not config_file.is_file():
        raise PlatformError(f"No {CONFIG_FILE} in {config_file.parent}: run from the project folder.")
    try:
        text = config_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PlatformError(f"{config_file} is not a text file (not UTF-8): put the project's YAML settings there.") from None
    try:
        loader = _UniqueKeyLoader(text)
        loader.name = str(config_file)
        try:
            document = loader.get_single_data() or {}
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise PlatformError(f"{config_file} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PlatformError(f"{config_file}: the file must be a mapping of keys (gateways, variables, ...), not a {_yaml_kind(document)}.")
    section = (document.get("variables") or {}).get("platform")
    if not isinstance(section, dict):
        raise PlatformError(f"{config_file}: the platform's settings belong under `variables.platform`.")
    return section


def _yaml_kind(value: Any) -> str:
    return {list: "list", str: "text", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


def _apply_override(raw: dict[str, Any], name: str, value: str) -> None:
    path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
    node = raw
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = _scalar(value)


def _scalar(value: str) -> Any:
    """An override's value as YAML reads it (`true`, `5`, `[a, b]`), or the text itself where it is no
    valid YAML: a cron such as `*/15 * * * *` starts with YAML's alias mark."""
    if not value.strip():
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _describe(exc: ValidationError, config_file: Path, overrides: Mapping[str, str]) -> str:
    lines = [f"Invalid settings in {config_file} (under variables.platform):"]
    for error in exc.errors():
        loc = _without_kind_tag(error["loc"])
        if error["type"] == "union_tag_invalid":
            loc = (*loc, "kind")
        key = ".".join(str(part) for part in loc)
        env_name = ENV_PREFIX + "__".join(str(part).upper() for part in loc)
        # an unknown section set from the environment (PLATFORM__LAKEE__BACKEND) is reported at `lakee`
        from_env = sorted(
            name for name in overrides if name == env_name or (name + "__").startswith(env_name + "__") or env_name.startswith(name + "__")
        )
        origin = f" (from environment variable {', '.join(from_env)})" if from_env else ""
        if error["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        elif error["type"] == "missing":
            message = "required key is missing; add it"
        else:
            message = error["msg"]
        lines.append(f"  - {key}{origin}: {message}")
    lines.append(
        "Fix the keys above in config.yaml (or the environment variables named), then run again; "
        "the README's Configuration section and docs/sources.md list every key."
    )
    return "\n".join(lines)


def _without_kind_tag(loc: tuple) -> tuple:
    """pydantic puts the source's kind into the error path (sources.shop.sqlite.path): users wrote sources.shop.path."""
    if len(loc) > 2 and loc[0] == "sources" and loc[2] in SOURCE_KINDS:
        return (*loc[:2], *loc[3:])
    return loc
