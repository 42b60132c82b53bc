"""Operating the lake's object store: a local MinIO, its buckets, sample uploads and a structure check.

These back the `just minio*` recipes (pipeline/lake_cli.py). They speak plain S3 to
whatever `variables.platform.lake.s3` points at, so they serve a real MinIO or
any S3-compatible store alike; `verify_lake` also checks a local lake.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from core import envfile, warehouse
from core.buckets import BucketUsage, ensure_buckets, missing_buckets, usage
from core.errors import PlatformError
from core.lake import LANDING_PREFIX, LAYERS, Lake
from core.run_context import open_run
from core.settings import Settings
from core.warehouse import sql_literal
from publish.marts import marts_folder
from publish.staging import current_staging
from publish.versions import MANIFEST, Version, read_version

GET_MINIO = """No `minio` binary on PATH. Get one of:
  - the server binary: https://min.io/docs/minio/linux/index.html
      curl -fLO https://dl.min.io/server/minio/release/linux-amd64/minio && chmod +x minio && sudo mv minio /usr/local/bin/
  - Docker: `docker compose up -d` (docker-compose.yml: the same ports, and it creates the buckets)
Then run `just minio` again."""


def require_s3(settings: Settings) -> Lake:
    """The lake, which must be on the s3 backend for the object-store commands."""
    if settings.lake.backend != "s3":
        raise PlatformError(
            "The lake's backend is local: set `lake.backend: s3` under variables.platform in config.yaml "
            "(or PLATFORM__LAKE__BACKEND=s3 in `.env`) and the keys named by lake.s3.access_key_env / secret_key_env."
        )
    return Lake(settings)


LOOPBACK = "127.0.0.1"
# MinIO's built-in root login and the placeholder older .env.example files carried: anyone may know them.
WELL_KNOWN_SECRETS = frozenset({"minioadmin", "change-me-please"})


def minio_command(settings: Settings, binary: str | None = None) -> list[str]:
    """The command line that serves a local MinIO, data under data_dir/minio, its API and console on loopback only.

    The API listens on the endpoint's port, the console on lake.s3.console_port.
    """
    binary = binary or shutil.which("minio")
    if binary is None:
        raise PlatformError(GET_MINIO)
    data = settings.data_dir / "minio"
    return [binary, "server", str(data), "--address", minio_address(settings), "--console-address", console_address(settings)]


def minio_environment(settings: Settings) -> dict[str, str]:
    """The environment of a local MinIO: its root login is the lake's keys (minio_root_login)."""
    user, password = minio_root_login(settings)
    (settings.data_dir / "minio").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": password}


def minio_root_login(settings: Settings) -> tuple[str, str]:
    """The local MinIO's root user and password: the lake's keys from the environment or `.env`.

    Unset, they are generated and written to `.env` (owner-only), where the lake's clients read
    them too; MinIO's well-known defaults are refused, naming the variable.
    """
    s3, env_file = settings.lake.s3, settings.project_dir / ".env"
    env = {**dotenv_values(env_file), **os.environ}
    user, password = env.get(s3.access_key_env), env.get(s3.secret_key_env)
    if user and password:
        if password in WELL_KNOWN_SECRETS or password == user:
            raise PlatformError(
                f"{s3.secret_key_env} holds a well-known default, which would open the local MinIO to anyone: remove "
                f"{s3.access_key_env} and {s3.secret_key_env} from .env (and the environment) to have keys generated, or set your own."
            )
        return user, password
    if user or password:
        raise PlatformError(f"Only one of {s3.access_key_env} and {s3.secret_key_env} is set: set both, or neither to have them generated.")
    user, password = f"duckstack-{secrets.token_hex(4)}", secrets.token_urlsafe(32)
    envfile.set_values(env_file, {s3.access_key_env: user, s3.secret_key_env: password})
    return user, password


def run_minio(settings: Settings) -> int:
    """Serve MinIO in the foreground until interrupted; the buckets are created by `just minio-buckets` or `just run`."""
    command = minio_command(settings)
    return subprocess.call(command, env=minio_environment(settings))


def minio_address(settings: Settings) -> str:
    """Where a local MinIO's API listens: loopback, on the endpoint's port."""
    port = settings.lake.s3.endpoint_host.rpartition(":")[2]
    return f"{LOOPBACK}:{port if port.isdigit() else 9000}"


def console_address(settings: Settings) -> str:
    return f"{LOOPBACK}:{settings.lake.s3.console_port}"


def console_url(settings: Settings) -> str:
    return ("https://" if settings.lake.s3.use_tls else "http://") + console_address(settings)


def buckets_with_usage(settings: Settings) -> tuple[list[str], list[BucketUsage]]:
    """Create the layers' buckets if missing, then count each one's objects and bytes."""
    lake = require_s3(settings)
    created = ensure_buckets(lake)
    return created, usage(lake)


def upload_sample(settings: Settings, scale: float = 0.01) -> list[str]:
    """Write a small demo shop's tables as CSV to `lake://raw/landing/<source>/<table>.csv`; return their URLs."""
    from demo.shop import generate

    lake = Lake(settings)
    lake.ensure_layers()
    source = settings.demo.source
    urls = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sample.db"
        counts = generate(
            db, seed=settings.demo.seed, scale=scale, start_date=settings.demo.start_date, history_days=settings.demo.history_days
        )
        with contextlib.closing(lake.attach(warehouse.connect(extensions=("sqlite_scanner",)))) as con:
            con.execute(f"ATTACH {sql_literal(db)} AS sample (TYPE sqlite, READ_ONLY)")
            for table in counts:
                url = lake.url("raw", LANDING_PREFIX, source, f"{table}.csv")
                lake.make_folder(url.rsplit("/", 1)[0])
                con.execute(f"COPY sample.main.{table} TO {sql_literal(url)} (FORMAT csv, HEADER)")
                urls.append(url)
    return urls


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    fix: str = ""


def verify_lake(settings: Settings) -> list[Check]:
    """Check the lake's structure: buckets (s3), raw tables with completed loads, staging and curated manifests."""
    run = open_run(settings)
    lake = run.lake
    checks: list[Check] = []
    if lake.backend == "s3":
        missing = set(missing_buckets(lake))
        for layer, bucket in lake.buckets().items():
            checks.append(
                Check(f"bucket {bucket} ({layer})", bucket not in missing, "run `just minio-buckets` (or `just run`) to create it")
            )
        if missing:
            return checks
    else:
        for layer in LAYERS:
            checks.append(Check(f"folder {lake.url(layer)}", lake.exists(lake.url(layer)), "run `just run`"))
    for source_name, source in settings.sources.items():
        loads = lake.files(lake.url("raw", source_name, "_dlt_loads"))
        checks.append(Check(f"{lake.url('raw', source_name, '_dlt_loads')}: completed loads", bool(loads), "run `just run` to ingest"))
        for table in source.tables:
            files = lake.files(lake.url("raw", source_name, table))
            checks.append(
                Check(
                    f"{lake.url('raw', source_name, table)}: Parquet",
                    any(f.endswith(".parquet") for f in files),
                    "run `just run` to ingest",
                )
            )
        checks.append(
            _manifest_check(
                lake, lake.url("staging", source_name), functools.partial(current_staging, run, source_name), list(source.tables)
            )
        )
    folder = marts_folder(settings)
    checks.append(_manifest_check(lake, folder, lambda: read_version(lake, folder), None))
    return checks


def _manifest_check(lake: Lake, folder: str, read: Callable[[], Version | None], tables: list[str] | None) -> Check:
    what = f"{folder}/{MANIFEST}"
    try:
        version = read()
    except PlatformError as exc:
        return Check(what, False, str(exc))
    if version is None:
        return Check(what, False, "run `just run` to build and publish")
    absent = [name for name, files in version.files.items() if not lake.fs.glob(files)]
    absent += [name for name in tables or [] if name not in version.files]
    if absent:
        return Check(
            f"{what}: version {version.version}", False, f"tables {', '.join(absent)} are missing; run `just run` to publish again"
        )
    return Check(f"{what}: version {version.version}", True)
