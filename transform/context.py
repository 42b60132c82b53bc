"""Open a SQLMesh context whose paths come from the platform's settings, not from the cwd."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
import warnings
from collections.abc import Iterator

import duckdb
import jinja2
from sqlmesh import Context
from sqlmesh.core.config import Config
from sqlmesh.core.config.connection import ConnectionConfig, DuckDBConnectionConfig
from sqlmesh.core.config.loader import load_config_from_paths
from sqlmesh.core.console import Console, NoopConsole, set_console
from sqlmesh.utils.errors import ConfigError

from core import warehouse
from core.errors import PlatformError
from core.lake import Lake
from core.settings import CONFIG_FILE, Settings
from transform.demo_models import demo_files
from transform.lint import refuse_lint_errors
from transform.spark_gateway import SPARK, anchored_spark_connection, anchored_state_connection, is_spark, spark_dir


def sqlmesh_config(settings: Settings) -> Config:
    """`config.yaml` as SQLMesh reads it, with the warehouse and cache paths taken from settings."""
    config, gateway_name = _project_gateway(settings)
    gateway = config.gateways[gateway_name]
    connection = gateway_connection(config, gateway_name)
    update: dict[str, ConnectionConfig]
    if is_spark(connection):
        update = {
            "connection": anchored_spark_connection(settings, connection),
            "state_connection": anchored_state_connection(settings, gateway.state_connection),
        }
    else:
        local = {"database": str(settings.warehouse_path), **_lake_access(settings)}
        if isinstance(connection, DuckDBConnectionConfig):
            local["connector_config"] = duckdb_settings(settings, connection.connector_config)
        update = {"connection": connection.model_copy(update=local)}
    # Only the selected gateway: SQLMesh connects to every gateway it is given (Context.engine_adapters),
    # and a DuckDB build must not start Spark.
    gateways = {gateway_name: gateway.model_copy(update=update)}
    demo_off = [] if settings.demo.enabled else demo_files(settings.project_dir, settings.demo.source)
    return config.model_copy(
        update={
            "gateways": gateways,
            "default_gateway": gateway_name,
            "cache_dir": str(settings.data_dir / "sqlmesh-cache"),
            "ignore_patterns": [*config.ignore_patterns, *demo_off],
        }
    )


def duckdb_settings(settings: Settings, configured: dict) -> dict:
    """The DuckDB settings of a build: config.yaml's `connector_config` over the platform's defaults.

    The build spills to a folder beside the warehouse, in the data folder, and its memory is sized
    to the machine: half of its RAM, as the app, the API and the ingest share it. (A window over
    millions of rows, such as a staging model's dedupe, needs memory that DuckDB cannot spill.)
    Its time zone is UTC, whatever the machine's, as every connection of the platform's.
    """
    defaults = {
        "memory_limit": f"{machine_memory_bytes() // 2 // 2**20}MB",
        "temp_directory": str(settings.warehouse_path) + ".tmp",
        "TimeZone": warehouse.TIME_ZONE,
    }
    return {**defaults, **configured}


def out_of_memory_hint(settings: Settings, failure: str) -> str | None:
    """For a build that DuckDB stopped for want of memory: the setting to change and how."""
    if "Out of Memory" not in failure:
        return None
    config = sqlmesh_config(settings)
    name = config.default_gateway
    connector = getattr(gateway_connection(config, name), "connector_config", {})
    spill = connector.get("temp_directory") or "nowhere"
    return (
        f"DuckDB ran out of memory (memory_limit {connector.get('memory_limit')}, spilling to {spill}): "
        f"raise memory_limit under gateways.{name}.connection.connector_config in {CONFIG_FILE}, or set "
        f"SQLMESH__GATEWAYS__{name.upper()}__CONNECTION__CONNECTOR_CONFIG__MEMORY_LIMIT (e.g. 8GB), and keep temp_directory "
        "set so that DuckDB spills to disk."
    )


def machine_memory_bytes() -> int:
    """The machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def warehouse_location(settings: Settings) -> str:
    """Where the models' tables live: the DuckDB file, or the Spark gateway's warehouse folder."""
    config = sqlmesh_config(settings)
    connection = gateway_connection(config, config.default_gateway)
    if is_spark(connection):
        return f"spark warehouse {connection.config.get('spark.sql.warehouse.dir', spark_dir(settings))}"
    return str(settings.warehouse_path)


def uses_spark(settings: Settings) -> bool:
    """Whether the models of these settings are built on the spark gateway."""
    config, name = _project_gateway(settings)
    return is_spark(gateway_connection(config, name))


def check_gateway(settings: Settings) -> None:
    """Refuse, before anything runs, an unknown gateway or DuckDB settings that DuckDB rejects.

    SQLMesh would only meet a bad `connector_config` when the build connects, after the ingest,
    and its connection pool then goes on without the setting (a `memory_limit: lots` was ignored).
    """
    config, name = _project_gateway(settings)
    connection = gateway_connection(config, name)
    if is_spark(connection):
        if importlib.util.find_spec("pyspark") is None:
            raise PlatformError(
                f"The {name!r} gateway builds on Spark, and pyspark (an optional extra, about 340 MB installed) is not installed: "
                "run `uv sync --extra spark` in the project folder, then run again."
            )
        return
    if not isinstance(connection, DuckDBConnectionConfig):
        return
    try:  # as SQLMesh applies them: each SET on an open connection (the time zone needs DuckDB's ICU loaded first)
        with contextlib.closing(duckdb.connect(":memory:")) as con:
            for option, value in connection.connector_config.items():
                con.execute(f"SET {warehouse.sql_identifier(option)} = {warehouse.sql_literal(str(value))}")
    except (duckdb.Error, PlatformError) as exc:
        raise PlatformError(
            f"{CONFIG_FILE}: gateways.{name}.connection.connector_config is not valid for DuckDB: {exc}. "
            "Fix it (e.g. memory_limit: 768MB) or remove the key, then run again."
        ) from None


def _project_gateway(settings: Settings) -> tuple[Config, str]:
    """`config.yaml` as written, and the gateway these settings select: `transform.gateway` if
    set, else the file's default gateway."""
    try:
        config = _load_config(settings, settings.transform.gateway or "")
    except (ConfigError, jinja2.TemplateError) as exc:
        detail = " ".join(str(exc).split())
        raise PlatformError(
            f"{settings.project_dir / CONFIG_FILE}: SQLMesh rejects its settings (outside variables.platform): {detail[:600]} "
            "Fix the key it names (SQLMesh's configuration reference lists them) and run again."
        ) from None
    name = settings.transform.gateway or config.default_gateway or next(iter(config.gateways))
    if name not in config.gateways:
        known = _load_config(settings, SPARK).gateways  # with the gateway declared on demand
        raise PlatformError(f"No gateway {name!r} in {CONFIG_FILE} (transform.gateway); it has: {', '.join(known)}.")
    return config, name


def _load_config(settings: Settings, gateway: str) -> Config:
    # config.yaml starts every path with `var('data_dir')`: this run's data folder, wherever the cwd is;
    # it declares the spark gateway only when `var('gateway')` selects it (pyspark is an optional extra).
    variables = {"data_dir": str(settings.data_dir), "gateway": gateway}
    return load_config_from_paths(Config, project_paths=[settings.project_dir / CONFIG_FILE], variables=variables)


def gateway_connection(config: Config, name: str) -> ConnectionConfig:
    """Gateway `name`'s connection; config.yaml must give it one."""
    connection = config.gateways[name].connection
    if connection is None:
        raise PlatformError(f"{CONFIG_FILE}: gateways.{name} has no `connection`; give it one (see the `local` gateway).")
    return connection


def _lake_access(settings: Settings) -> dict:
    """On the s3 backend, SQLMesh's DuckDB connections load httpfs and create the lake's secret (in memory only)."""
    if settings.lake.backend != "s3":
        return {}
    # SQLMesh quotes each value as '...' itself: double the quotes inside.
    secret = {key: value.replace("'", "''") for key, value in Lake(settings).duckdb_secret().items()}
    return {"extensions": ["httpfs"], "secrets": {"lake_s3": secret}}


def spark_session(settings: Settings):
    """The gateway's SparkSession (the one SQLMesh uses: a process has one), started if needed."""
    config = sqlmesh_config(settings)
    return gateway_connection(config, config.default_gateway).create_engine_adapter().spark


def open_context(settings: Settings, console: Console | None = None) -> Context:
    """A loaded SQLMesh context for the project, its models lint-clean; close it when done.

    A model that breaks a lint rule of config.yaml is refused here, naming the model, the rule and
    the fix (transform/lint.py), so plans on this context skip SQLMesh's own lint pass.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # SQLMesh's seed reader passes pandas arguments that pandas deprecated: its warnings, not the user's.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"sqlmesh\.core\.model\.definition")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"sqlmesh\.core\.model\.definition")
    if settings.lake.backend == "s3":
        # Install httpfs from its wheel first, so that SQLMesh's own `INSTALL httpfs` finds it and downloads nothing.
        warehouse.connect(extensions=("httpfs",)).close()
    set_console(console or NoopConsole())
    context = Context(paths=[settings.project_dir], config=sqlmesh_config(settings))
    try:
        refuse_lint_errors(context)
    except PlatformError:
        context.close()
        raise
    return context


@contextlib.contextmanager
def definitions_context(settings: Settings) -> Iterator[Context]:
    """The project's models loaded against an in-memory engine: for reading their definitions (docs,
    lineage) without opening the warehouse or waiting for the writer lock while a build runs."""
    config = sqlmesh_config(settings)
    gateway_name = config.default_gateway or next(iter(config.gateways))
    gateway = config.gateways[gateway_name]
    in_memory = gateway_connection(config, gateway_name).model_copy(update={"database": ":memory:"})
    with tempfile.TemporaryDirectory(prefix="definitions-") as cache:
        config = config.model_copy(
            update={
                "gateways": {**config.gateways, gateway_name: gateway.model_copy(update={"connection": in_memory})},
                "cache_dir": cache,
            }
        )
        set_console(NoopConsole())
        context = Context(paths=[settings.project_dir], config=config)
        try:
            yield context
        finally:
            context.close()
