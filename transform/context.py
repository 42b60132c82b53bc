"""Open a SQLMesh context whose paths come from the platform's settings, not from the cwd."""

from __future__ import annotations

import warnings

from sqlmesh import Context
from sqlmesh.core.config import Config
from sqlmesh.core.config.loader import load_config_from_paths
from sqlmesh.core.console import Console, NoopConsole, set_console

from core import warehouse
from core.lake import Lake
from core.settings import CONFIG_FILE, Settings


def sqlmesh_config(settings: Settings) -> Config:
    """`config.yaml` as SQLMesh reads it, with the warehouse and cache paths taken from settings."""
    config = load_config_from_paths(Config, project_paths=[settings.project_dir / CONFIG_FILE])
    gateway_name = config.default_gateway or next(iter(config.gateways))
    gateway = config.gateways[gateway_name]
    connection = gateway.connection.model_copy(update={"database": str(settings.warehouse_path), **_lake_access(settings)})
    gateways = {**config.gateways, gateway_name: gateway.model_copy(update={"connection": connection})}
    return config.model_copy(
        update={
            "gateways": gateways,
            "cache_dir": str(settings.data_dir / "sqlmesh-cache"),
        }
    )


def _lake_access(settings: Settings) -> dict:
    """On the s3 backend, SQLMesh's DuckDB connections load httpfs and create the lake's secret (in memory only)."""
    if settings.lake.backend != "s3":
        return {}
    # SQLMesh quotes each value as '...' itself: double the quotes inside.
    secret = {key: value.replace("'", "''") for key, value in Lake(settings).duckdb_secret().items()}
    return {"extensions": ["httpfs"], "secrets": {"lake_s3": secret}}


def open_context(settings: Settings, console: Console | None = None) -> Context:
    """A loaded SQLMesh context for the project; close it when done."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # SQLMesh's seed reader passes pandas arguments that pandas deprecated: its warnings, not the user's.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"sqlmesh\.core\.model\.definition")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"sqlmesh\.core\.model\.definition")
    if settings.lake.backend == "s3":
        # Install httpfs from its wheel first, so that SQLMesh's own `INSTALL httpfs` finds it and downloads nothing.
        warehouse.connect(extensions=("httpfs",)).close()
    set_console(console or NoopConsole())
    return Context(paths=[settings.project_dir], config=sqlmesh_config(settings))
