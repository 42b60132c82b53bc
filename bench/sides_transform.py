"""Transform sides: the platform's SQLMesh build, and the same SQL as plain DuckDB `CREATE TABLE AS`.

The plain side runs the SQL that SQLMesh itself renders for each model, in the
DAG's order, so the comparison follows the models as they change.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from core import warehouse
from core.settings import Settings
from transform.raw_views import create_raw_views


def sqlmesh_build(settings: Settings, params: dict) -> dict:
    from transform.build import build_prod

    result = build_prod(settings)
    restated_from = result.restatement.start
    return {
        "models_built": len(result.tally.models_built),
        "audits_passed": result.tally.audits_passed,
        "marts": result.marts,
        "restated_from": restated_from.isoformat() if restated_from else None,
        "slowest_models": dict(result.tally.slowest()),
    }


def duckdb_build(settings: Settings, params: dict) -> dict:
    """Create every model as a table in a fresh warehouse, from SQLMesh's rendered SQL; return mart row counts."""
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        apply_duckdb_settings(con, params)
        create_raw_views(con, settings)
        for model in params["models"]:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {model['schema']}")
            con.execute(f"CREATE TABLE {model['table']} AS {model['sql']}")
        return {"rows": {m["name"]: con.execute(f"SELECT count(*) FROM {m['table']}").fetchone()[0] for m in params["models"]}}


def apply_duckdb_settings(con, params: dict) -> None:
    """The gateway's DuckDB settings (its `connector_config`, e.g. `memory_limit`): both sides get the same budget."""
    for name, value in params["duckdb"].items():
        con.execute(f"SET {name} = {warehouse.sql_literal(str(value))}")


def gateway_duckdb_settings(settings: Settings) -> dict[str, str]:
    """The `connector_config` of the DuckDB gateway in config.yaml (read in the parent; not timed)."""
    from transform.context import sqlmesh_config

    config = sqlmesh_config(settings)
    return {name: str(value) for name, value in getattr(config.gateways[config.default_gateway].connection, "connector_config", {}).items()}


FULL_RANGE_START = "2000-01-01"


def render_models(settings: Settings) -> list[dict]:
    """Each built model's SQL as SQLMesh renders it, in dependency order (run in the parent; not timed)."""
    from sqlmesh.core.console import NoopConsole

    from transform.context import open_context

    context = open_context(settings, NoopConsole())
    try:
        models = []
        for fqn in context.dag.sorted:
            model = context.get_model(fqn)
            if model.kind.is_external or model.kind.is_symbolic:
                continue
            models.append(
                {
                    "name": model.name,
                    "table": fqn,
                    "schema": fqn.rsplit(".", 1)[0],
                    # the whole history at once, as a full build of an incremental model covers it
                    "sql": context.render(fqn, start=FULL_RANGE_START, end=dt.date.today()).sql(dialect="duckdb"),
                }
            )
        return models
    finally:
        context.close()
