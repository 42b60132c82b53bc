"""How the platform runs and is watched: `just run`, the transform gateway, the scheduler's jobs, alerts,
monitoring, the app, the reports and the API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from core.settings_fields import Cron, EnvName, Identifier, Strict


class RunSettings(Strict):
    """How `just run` behaves."""

    lock_wait_seconds: float = Field(600, ge=0)
    publish_keep_versions: int = Field(3, ge=1)


class TransformSettings(Strict):
    """Where SQLMesh builds the models."""

    # A gateway of config.yaml: `local` (DuckDB) or `spark`; None means its `default_gateway`.
    gateway: Identifier | None = None


JobName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*(:[a-z0-9_]+)?$")]


class JobSettings(Strict):
    """One scheduled job. Unset fields take the `jobs` section's defaults.

    `task` is a built-in task (ingest, transform, publish, monitor, hello_world)
    or a `package.module:function` taking (settings, **args).
    """

    task: str | None = None
    args: dict[str, Any] = {}
    schedule: Cron | None = Field(None, description="5-field cron.")
    every_seconds: float | None = Field(None, gt=0, description="A fixed interval, instead of a cron.")
    after: list[str] = Field([], description="Jobs (globs allowed) that must succeed first; the last to finish starts this one.")
    trigger_rule: Literal["all_success", "one_success"] = Field(
        "all_success",
        description="all_success: it starts when every `after` job's last run succeeded, and is skipped when one failed; "
        "one_success: it starts when none is running and at least one's last run succeeded (a failed one is alerted on its own).",
    )
    retries: int | None = Field(None, ge=0)
    retry_backoff_seconds: float | None = Field(None, ge=0)
    timeout_seconds: float | None = Field(None, gt=0)
    writes: bool | None = Field(None, description="Takes the writer lock; default: true for ingest, transform, publish.")
    enabled: bool = True


class JobsSettings(Strict):
    """The scheduler service (`just serve`) and its jobs."""

    define: dict[JobName, JobSettings] = {}
    retries: int = Field(2, ge=0)
    retry_backoff_seconds: float = Field(30, ge=0, description="Doubles after each failed attempt.")
    timeout_seconds: float = Field(3600, gt=0)
    misfire_grace_seconds: float = Field(3600, gt=0, description="A run missed by more than this is dropped.")
    shutdown_grace_seconds: float = Field(30, ge=0, description="How long a running job may finish on SIGTERM.")
    poll_seconds: float = Field(10, gt=0, description="How often the service refreshes scheduled_jobs and reads pauses.")
    history_days: float = Field(90, gt=0, description="Retention of job_runs, monitor_results and closed alerts.")
    access_log_days: float = Field(365, gt=0, description="Retention of access_log: API calls, app page views and downloads.")
    max_workers: int = Field(4, ge=1)


class ChannelSettings(Strict):
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


class AlertsSettings(Strict):
    """Where alerts go, and how often an open problem is repeated."""

    channels: dict[Identifier, ChannelSettings] = {"log": ChannelSettings(kind="log")}
    reminder_hours: float = Field(6, gt=0)


class MonitoringSettings(Strict):
    """The monitor job's checks and thresholds."""

    marts_freshness_sla_hours: float = Field(26, gt=0)
    anomaly_min_history: int = Field(5, ge=2, description="Loads of history needed before judging a load.")
    anomaly_threshold: float = Field(3.5, gt=0, description="Robust z-score (median/MAD) that counts as an anomaly.")
    anomaly_window: int = Field(30, ge=2, description="How many previous loads form the baseline.")
    min_free_disk_gb: float = Field(1, ge=0)
    publish_lag_minutes: float = Field(
        60, gt=0, description="How long a completed load may wait for a transform before the published marts count as stale."
    )


class PrivacySettings(Strict):
    """Who may see personal data (the columns a source declares `personal`); every other reader sees it masked."""

    personal_data_roles: list[Literal["business", "operator"]] = Field(
        [], description="Roles that see personal values unmasked; the default is nobody."
    )
    hash_salt_env: str = Field(
        "PII_HASH_SALT", description="Variable holding the secret salt of the `hash` mask; unset, the data folder keeps one of its own."
    )


class AppUser(Strict):
    """One login of the Streamlit app; the password hash comes from the environment or `.env`."""

    role: Literal["business", "operator"] = "business"
    password_hash_env: str | None = Field(None, description="Variable holding the password hash; default APP_PASSWORD_HASH_<USER>.")


class AppSettings(Strict):
    """The Streamlit app (`just app`)."""

    port: int = Field(8501, ge=1, le=65535)
    address: str = Field(
        "127.0.0.1",
        description="Where the app listens when users are configured (without users: 127.0.0.1 always); "
        "another address only with TLS in front (docs/operations.md).",
    )
    secure_cookie: bool = Field(False, description="Mark the login cookie Secure: set it when the app is served over HTTPS.")
    users: dict[Identifier, AppUser] = Field(default_factory=dict)
    freshness_warn_ratio: float = Field(0.8, gt=0, le=1, description="Amber once data is this share of its SLA old.")
    small_file_bytes: int = Field(1_048_576, ge=1, description="Lake files below this size count as small.")
    default_period_days: int = Field(
        90, ge=1, description="The business pages show the newest this many days of data until a period is picked."
    )


class ApiSettings(Strict):
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
    bi_roles: list[Literal["business", "operator"]] = Field(
        [], description="Roles that get a DuckDB file for BI tools, data_dir/bi/<role>.duckdb, rewritten on every publish."
    )
    docs: bool = Field(
        False,
        description="Serve the interactive docs page at /docs. Off by default: its Swagger UI loads from a CDN. "
        "The OpenAPI schema (/openapi.json) is always served.",
    )


class ReportsSettings(Strict):
    """The Evidence reports (`app/reports/`): their data snapshot and how long each Node step may take."""

    snapshot: str = Field("reports/published.duckdb", description="DuckDB file the reports read; relative to data_dir.")
    role: Literal["business", "operator"] = Field(
        "business", description="Whom the reports are for: personal columns are masked unless the role is in privacy.personal_data_roles."
    )
    install_timeout_seconds: float = Field(600, gt=0, description="`npm ci` from the lockfile.")
    sources_timeout_seconds: float = Field(300, gt=0, description="`evidence sources`: the source queries.")
    build_timeout_seconds: float = Field(1200, gt=0, description="`evidence build`: the static site.")
