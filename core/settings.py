"""The platform's one typed settings object, read from `config.yaml` and the environment.

`config.yaml` is also SQLMesh's project config, so the platform's keys live under
`variables.platform`. Any key can be overridden from the environment as
`PLATFORM__<SECTION>__<KEY>` (values are parsed as YAML scalars). Secrets are
never read from the yaml: only from the environment or `.env`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from dotenv import dotenv_values
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError, model_validator

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
    def _scheme_agrees_with_tls(self) -> S3Settings:
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


ContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]
# Secrets are named, never written: the name of the environment variable that holds one.
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    if len(value.split()) != 5:
        raise ValueError(f"{value!r} is not a 5-field cron expression (minute hour day month weekday)")
    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid cron expression: {exc}") from None
    return value


Cron = Annotated[str, AfterValidator(_check_cron)]


class SchemaContract(_Strict):
    """dlt's schema contract: what happens to new tables, new columns and changed types."""

    tables: ContractMode = "evolve"
    columns: ContractMode = "evolve"
    data_type: ContractMode = "evolve"


class QualitySettings(_Strict):
    """The pandera contract at the ingestion boundary (audits/contracts/<source>__<table>.py)."""

    enabled: bool = True
    max_bad_share: float = Field(0.01, ge=0, le=1, description="Share of quarantined rows above which a load fails.")


ColumnName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _TableBase(_Strict):
    primary_key: ColumnName = "id"
    write_disposition: Literal["append", "replace"] = "append"
    contract: ContractMode | SchemaContract | None = Field(None, description="Overrides the source's contract.")
    pandera: Identifier | None = Field(None, description="Contract module in audits/contracts/; default <source>__<table>.")


class TableSettings(_TableBase):
    """One table of a SQL source: its key, its incremental cursor, and whether hard deletes are detected."""

    cursor: ColumnName | None = "updated_at"
    detect_hard_deletes: bool = False


class _SourceBase(_Strict):
    schedule: Cron = "0 * * * *"
    freshness_sla_hours: float = Field(26, gt=0)
    contract: ContractMode | SchemaContract = "evolve"
    quality: QualitySettings = QualitySettings()

    def secret_envs(self) -> list[str]:
        """The environment variables this source needs at startup."""
        return []


class SqliteSource(_SourceBase):
    """A SQLite database file, read through DuckDB's sqlite scanner as Arrow batches."""

    kind: Literal["sqlite"]
    path: str = Field(description="Database file; relative paths are under data_dir.")
    tables: dict[Identifier, TableSettings]
    chunk_size: int = Field(100_000, ge=1_000)


class PostgresSource(_SourceBase):
    """A PostgreSQL database, read through dlt's sql_database with the pyarrow backend."""

    kind: Literal["postgres"]
    host: str = "localhost"
    port: int = Field(5432, ge=1, le=65535)
    database: str
    user: str
    password_env: EnvName
    db_schema: str = "public"
    tables: dict[Identifier, TableSettings]
    chunk_size: int = Field(100_000, ge=1_000)

    def secret_envs(self) -> list[str]:
        return [self.password_env]


class AuthSettings(_Strict):
    """How a REST API is authenticated: a bearer token or an API key header, from the environment."""

    type: Literal["bearer", "api_key"] = "bearer"
    token_env: EnvName
    header: str = Field("X-API-Key", description="Header name for type api_key.")


class PaginatorSettings(_Strict):
    """Page-number, offset or cursor pagination (dlt rest_api paginators)."""

    type: Literal["page_number", "offset", "cursor", "single_page"] = "single_page"
    page_param: str = "page"
    base_page: int = 1
    limit: int = Field(100, ge=1, description="Page size for offset pagination.")
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_path: str = Field("next_cursor", description="Where the next cursor is in the response body.")
    cursor_param: str = "cursor"
    total_path: str | None = Field(None, description="Where the total count (or page count) is, if the API sends one.")


class IncrementalParam(_Strict):
    """Send the highest cursor value seen so far as a query parameter."""

    param: str
    cursor_path: str
    initial_value: str


class EndpointSettings(_TableBase):
    """One REST endpoint: its path, parameters, where the records are, pagination, incremental parameter."""

    path: str
    params: dict[str, str | int | float | bool] = {}
    data_selector: str | None = Field(None, description="JSON path of the records, e.g. `data`.")
    paginator: PaginatorSettings | None = Field(None, description="Overrides the source's paginator.")
    incremental: IncrementalParam | None = None


class RestApiSource(_SourceBase):
    """A REST API, configured rather than coded (dlt rest_api)."""

    kind: Literal["rest_api"]
    base_url: str
    auth: AuthSettings | None = None
    paginator: PaginatorSettings = PaginatorSettings()
    endpoints: dict[Identifier, EndpointSettings]
    timeout_seconds: float = Field(60, gt=0)
    max_attempts: int = Field(5, ge=1, description="Tries per request on 429, 5xx and connection errors.")
    backoff_seconds: float = Field(1, ge=0, description="Exponential backoff base between tries.")
    max_retry_delay_seconds: float = Field(300, ge=0, description="Upper bound of one wait, Retry-After included.")

    @property
    def tables(self) -> dict[str, EndpointSettings]:
        return self.endpoints

    def secret_envs(self) -> list[str]:
        return [self.auth.token_env] if self.auth else []


class FileTableSettings(_TableBase):
    """Files of one table in the landing area, matched by a glob pattern."""

    pattern: str = Field(description="Glob relative to the source's landing folder, e.g. `orders/*.csv`.")
    format: Literal["csv", "jsonl", "parquet"] | None = Field(None, description="Defaults to the file extension.")
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    cursor: ColumnName | None = Field(
        None,
        description="A column whose larger value marks a newer version of a row. Without one, every key in a new drop "
        "counts as changed for the staging model named after the table.",
    )
    on_type_drift: Literal["variant", "refuse", "coerce"] = Field(
        "variant",
        description="A value whose type differs from its loaded column: into `<column>__v_<type>`, reject the file, or quarantine the row.",
    )


class FilesSource(_SourceBase):
    """CSV, JSONL and Parquet files dropped in a landing folder; each is loaded exactly once."""

    kind: Literal["files"]
    landing: str | None = Field(
        None,
        description="Landing folder (relative to data_dir) or lake address (`lake://raw/...`); default `landing/<source>` "
        "under data_dir on the local backend, `lake://raw/landing/<source>` on s3.",
    )
    tables: dict[Identifier, FileTableSettings]
    settle_seconds: float = Field(5, ge=0, description="A file is taken once its size and mtime held this long.")
    batch_rows: int = Field(100_000, ge=1_000)


SOURCE_KINDS = ("sqlite", "postgres", "rest_api", "files")
SourceSettings = Annotated[SqliteSource | PostgresSource | RestApiSource | FilesSource, Field(discriminator="kind")]
SourceT = TypeVar("SourceT", SqliteSource, PostgresSource, RestApiSource, FilesSource)


class RunSettings(_Strict):
    """How `just run` behaves."""

    lock_wait_seconds: float = Field(600, ge=0)
    publish_keep_versions: int = Field(3, ge=1)


class TransformSettings(_Strict):
    """Where SQLMesh builds the models."""

    # A gateway of config.yaml: `local` (DuckDB) or `spark`; None means its `default_gateway`.
    gateway: Identifier | None = None


JobName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*(:[a-z0-9_]+)?$")]


class JobSettings(_Strict):
    """One scheduled job. Unset fields take the `jobs` section's defaults.

    `task` is a built-in task (ingest, transform, publish, monitor, hello_world)
    or a `package.module:function` taking (settings, **args).
    """

    task: str | None = None
    args: dict[str, Any] = {}
    schedule: Cron | None = Field(None, description="5-field cron.")
    every_seconds: float | None = Field(None, gt=0, description="A fixed interval, instead of a cron.")
    after: list[str] = Field([], description="Jobs (globs allowed) that must succeed first; the last to finish starts this one.")
    retries: int | None = Field(None, ge=0)
    retry_backoff_seconds: float | None = Field(None, ge=0)
    timeout_seconds: float | None = Field(None, gt=0)
    writes: bool | None = Field(None, description="Takes the writer lock; default: true for ingest, transform, publish.")
    enabled: bool = True


class JobsSettings(_Strict):
    """The scheduler service (`just serve`) and its jobs."""

    define: dict[JobName, JobSettings] = {}
    retries: int = Field(2, ge=0)
    retry_backoff_seconds: float = Field(30, ge=0, description="Doubles after each failed attempt.")
    timeout_seconds: float = Field(3600, gt=0)
    misfire_grace_seconds: float = Field(3600, gt=0, description="A run missed by more than this is dropped.")
    shutdown_grace_seconds: float = Field(30, ge=0, description="How long a running job may finish on SIGTERM.")
    poll_seconds: float = Field(10, gt=0, description="How often the service refreshes scheduled_jobs and reads pauses.")
    history_days: float = Field(90, gt=0, description="Retention of job_runs, monitor_results and closed alerts.")
    max_workers: int = Field(4, ge=1)


class ChannelSettings(_Strict):
    """One alert channel. Its secret (the webhook URL, the SMTP password) is named by environment variable."""

    kind: Literal["log", "webhook", "email"]
    url_env: EnvName | None = Field(None, description="webhook: variable holding the URL; default ALERTS_<NAME>_WEBHOOK_URL.")
    smtp_host: str = "localhost"
    smtp_port: int = 25
    starttls: bool = False
    username: str | None = None
    password_env: EnvName | None = Field(
        None, description="email with a username: variable holding the SMTP password; default ALERTS_<NAME>_SMTP_PASSWORD."
    )
    sender: str = "duckstack@localhost"
    to: list[str] = []

    @model_validator(mode="after")
    def _secret_fits_kind(self) -> ChannelSettings:
        if self.url_env and self.kind != "webhook":
            raise ValueError(f"url_env is for webhook channels, not {self.kind}")
        if self.password_env and self.kind != "email":
            raise ValueError(f"password_env is for email channels, not {self.kind}")
        return self

    def secret_env(self, name: str) -> str | None:
        """The variable that holds channel `name`'s secret; None when it needs none."""
        if self.kind == "webhook":
            return self.url_env or f"ALERTS_{name.upper()}_WEBHOOK_URL"
        if self.kind == "email" and self.username:
            return self.password_env or f"ALERTS_{name.upper()}_SMTP_PASSWORD"
        return None


class AlertsSettings(_Strict):
    """Where alerts go, and how often an open problem is repeated."""

    channels: dict[Identifier, ChannelSettings] = {"log": ChannelSettings(kind="log")}
    reminder_hours: float = Field(6, gt=0)


class MonitoringSettings(_Strict):
    """The monitor job's checks and thresholds."""

    marts_freshness_sla_hours: float = Field(26, gt=0)
    anomaly_min_history: int = Field(5, ge=2, description="Loads of history needed before judging a load.")
    anomaly_threshold: float = Field(3.5, gt=0, description="Robust z-score (median/MAD) that counts as an anomaly.")
    anomaly_window: int = Field(30, ge=2, description="How many previous loads form the baseline.")
    min_free_disk_gb: float = Field(1, ge=0)
    publish_lag_minutes: float = Field(
        60, gt=0, description="How long a completed load may wait for a transform before the published marts count as stale."
    )
class AppUser(_Strict):
    """One login of the Streamlit app; the password hash comes from the environment or `.env`."""

    role: Literal["business", "operator"] = "business"
    password_hash_env: str | None = Field(
        None, description="Variable holding the password hash; default APP_PASSWORD_HASH_<USER>."
    )


class AppSettings(_Strict):
    """The Streamlit app (`just app`)."""

    port: int = Field(8501, ge=1, le=65535)
    address: str = Field("0.0.0.0", description="Bound only when users are configured; else 127.0.0.1.")
    users: dict[Identifier, AppUser] = Field(default_factory=dict)
    freshness_warn_ratio: float = Field(0.8, gt=0, le=1, description="Amber once data is this share of its SLA old.")
    small_file_bytes: int = Field(1_048_576, ge=1, description="Lake files below this size count as small.")


class ApiSettings(_Strict):
    """The read-only data API (`just api`). Key hashes come from API_KEY_HASH_<KEY> in the environment or `.env`."""

    address: str = "127.0.0.1"
    port: int = Field(8600, ge=1, le=65535)
    keys: dict[Identifier, Literal["business", "operator"]] = Field({}, description="API key name -> its role.")
    marts: dict[Literal["business", "operator"], list[Identifier]] = Field(
        {}, description="Per role, the marts it may read; a role not listed reads every mart."
    )
    rate_limit_per_minute: int = Field(600, ge=1, description="Requests per key and minute (bursts up to as many).")
    page_size: int = Field(1000, ge=1, description="Rows per page when a request names no limit.")
    max_page_size: int = Field(100_000, ge=1, description="The largest limit a request may ask for.")


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
    transform: TransformSettings = TransformSettings()
    jobs: JobsSettings = JobsSettings()
    alerts: AlertsSettings = AlertsSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    app: AppSettings = AppSettings()
    reports: ReportsSettings = ReportsSettings()
    api: ApiSettings = ApiSettings()
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


def load_settings(project_dir: Path | None = None, env: Mapping[str, str | None] | None = None) -> Settings:
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
    raw.pop("secrets", None)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise PlatformError(_describe(exc, config_file, overrides)) from None
    return settings.model_copy(update={"secrets": _read_secrets(settings, env)})


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
                    f"Source '{name}' needs the environment variable {env_name} (a secret): "
                    "set it in the environment or in .env."
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
    return secrets


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
        from_env = sorted(name for name in overrides if name == env_name or (name + "__").startswith(env_name + "__") or env_name.startswith(name + "__"))
        origin = f" (from environment variable {', '.join(from_env)})" if from_env else ""
        if error["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        elif error["type"] == "missing":
            message = "required key is missing; add it"
        else:
            message = error["msg"]
        lines.append(f"  - {key}{origin}: {message}")
    lines.append("Fix the keys above in config.yaml (or the environment variables named), then run again; "
        "the README's Configuration and Sources sections list every key.")
    return "\n".join(lines)


def _without_kind_tag(loc: tuple) -> tuple:
    """pydantic puts the source's kind into the error path (sources.shop.sqlite.path): users wrote sources.shop.path."""
    if len(loc) > 2 and loc[0] == "sources" and loc[2] in SOURCE_KINDS:
        return (*loc[:2], *loc[3:])
    return loc
