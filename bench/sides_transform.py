"""Transform sides: the platform's SQLMesh build, and the same SQL as plain DuckDB `CREATE TABLE AS`.

The plain sides run the SQL that SQLMesh itself renders for each model, in the
DAG's order, so the comparison follows the models as they change: the whole
history for a full build, and for a day the models that the platform's build
evaluated, over the range it restated.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from core import warehouse
from core.run_context import open_run
from core.settings import Settings
from transform.raw_views import create_raw_views


def sqlmesh_build(settings: Settings, params: dict) -> dict:
    from transform.build import build_prod

    result = build_prod(open_run(settings))
    restated_from = result.restatement.start
    return {
        "models_built": len(result.tally.models_built),
        "audits_passed": result.tally.audits_passed,
        "marts": result.marts,
        "restated_from": restated_from.isoformat() if restated_from else None,
        "slowest_models": dict(result.tally.slowest()),
        "models_evaluated": sorted(result.tally.models_built),
    }


@contextlib.contextmanager
def _hand_run_warehouse(settings: Settings, params: dict):
    """The warehouse as a hand-run side opens it: the gateway's DuckDB settings, and the raw views over the lake."""
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        apply_duckdb_settings(con, params)
        create_raw_views(con, open_run(settings))
        yield con


def duckdb_build(settings: Settings, params: dict) -> dict:
    """Create every model as a table in a fresh warehouse, from SQLMesh's rendered SQL; return mart row counts."""
    with _hand_run_warehouse(settings, params) as con:
        for model in params["models"]:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {model['schema']}")
            con.execute(f"CREATE TABLE {model['table']} AS {model['sql']}")
        return {"rows": {m["name"]: con.execute(f"SELECT count(*) FROM {m['table']}").fetchone()[0] for m in params["models"]}}


DAY_SCHEMA = "bench_day"


def duckdb_day(settings: Settings, params: dict) -> dict:
    """A day by hand, next to the platform's: each model the platform's build evaluated, over the range it
    restated, as `CREATE TABLE AS` in a scratch schema of the same warehouse (reading the tables that
    build wrote). The floor of a day's run: the SQL alone, with no delete of the old rows and no audits.
    The scratch schema is dropped at the end."""
    with _hand_run_warehouse(settings, params) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {DAY_SCHEMA}")
        rows = {}
        try:
            for model in params["models"]:
                table = f"{DAY_SCHEMA}.{model['name'].replace('.', '__')}"
                con.execute(f"CREATE TABLE {table} AS {model['sql']}")
                rows[model["name"]] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            con.execute(f"DROP SCHEMA {DAY_SCHEMA} CASCADE")
        return {"rows": rows}


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
# SQLMesh's SCD type 2 merge adds the validity columns; a first build makes every row valid from the epoch.
FIRST_VALID_FROM = "TIMESTAMP '1970-01-01 00:00:00'"


def render_models(settings: Settings, *, start: str = FULL_RANGE_START, only: set[str] | None = None) -> list[dict]:
    """Each built model's SQL as SQLMesh renders it from `start` to today, in dependency order; `only` keeps
    the models of those names (run in the parent; not timed). From FULL_RANGE_START, an incremental
    model's SQL covers its whole history, as a full build does."""
    from sqlmesh.core.console import NoopConsole

    from transform.context import open_context

    context = open_context(settings, NoopConsole())
    try:
        models = []
        for fqn in context.dag.sorted:
            model = context.get_model(fqn)
            if model.kind.is_external or model.kind.is_symbolic or (only is not None and model.name not in only):
                continue
            # A restatement rebuilds whole intervals: a model whose intervals are months starts at its month.
            sql = context.render(fqn, start=model.interval_unit.cron_floor(start), end=dt.date.today()).sql(dialect="duckdb")
            if model.kind.is_scd_type_2:
                sql = f"SELECT *, {FIRST_VALID_FROM} AS valid_from, NULL::TIMESTAMP AS valid_to FROM ({sql})"
            models.append({"name": model.name, "table": fqn, "schema": fqn.rsplit(".", 1)[0], "sql": sql})
        return models
    finally:
        context.close()
