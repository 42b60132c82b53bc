"""Open a SQLMesh context whose paths come from the platform's settings, not from the cwd."""

from __future__ import annotations

from sqlmesh import Context
from sqlmesh.core.config import Config
from sqlmesh.core.config.loader import load_config_from_paths
from sqlmesh.core.console import Console, NoopConsole, set_console

from core.settings import CONFIG_FILE, Settings


def sqlmesh_config(settings: Settings) -> Config:
    """`config.yaml` as SQLMesh reads it, with the warehouse and cache paths taken from settings."""
    config = load_config_from_paths(Config, project_paths=[settings.project_dir / CONFIG_FILE])
    gateway_name = config.default_gateway or next(iter(config.gateways))
    gateway = config.gateways[gateway_name]
    connection = gateway.connection.model_copy(update={"database": str(settings.warehouse_path)})
    gateways = {**config.gateways, gateway_name: gateway.model_copy(update={"connection": connection})}
    return config.model_copy(
        update={
            "gateways": gateways,
            "cache_dir": str(settings.data_dir / "sqlmesh-cache"),
        }
    )


def open_context(settings: Settings, console: Console | None = None) -> Context:
    """A loaded SQLMesh context for the project; close it when done."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    set_console(console or NoopConsole())
    return Context(paths=[settings.project_dir], config=sqlmesh_config(settings))
