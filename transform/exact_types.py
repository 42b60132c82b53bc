"""Every column is stored with the type DuckDB computes for the model's SQL, or the build refuses.

SQLMesh types a model's table from a static reading of its query (sqlglot's type annotation) and
casts every row into that table. Where the static reading differs from DuckDB's, the cast changes
values without a word: `sum()` of a DECIMAL(15,2) is typed DECIMAL(15,2) where DuckDB computes
DECIMAL(38,2) (rounded, and overflowing near 1e13), a decimal ratio gets three decimals.

So before a DuckDB plan, every SQL model's query is typed by DuckDB itself: bound (never run)
against empty tables that have its upstream models' stored types, in an in-memory catalog
attached for the check; the raw views are read as they are. A column whose stored type would
differ from DuckDB's is refused, naming the model, the column and the cast to write. A model
whose types SQLMesh cannot all infer is created from the query itself, so its types are DuckDB's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.model import Model

from core.errors import PlatformError

CATALOG = "_exact_types"
# DuckDB's 128-bit integers (the type of `sum()` over integers) have no Parquet type.
UNPUBLISHABLE = {"INT128", "UINT128"}
SHOWN_EXPRESSION_CHARS = 80


@dataclass(frozen=True)
class Mismatch:
    """One column whose stored type is not the type DuckDB computes for it."""

    model: str
    path: str
    column: str
    stored: str
    computed: str
    expression: str

    def line(self) -> str:
        if self.computed in UNPUBLISHABLE:
            problem = f"DuckDB computes {self.computed}, which Parquet cannot hold (the published file would have a DOUBLE)"
            cast, other = "BIGINT", "DECIMAL(38, 0) for totals beyond 9.2e18"
        else:
            problem = f"DuckDB computes {self.computed}"
            cast, other = self.computed, "the type you mean"
        stored = "" if self.stored == self.computed else f"would be stored as {self.stored}, but "
        return (
            f"  - {self.model}{self.path}: column {self.column} {stored}{problem}. "
            f"Fix: select it as `CAST({self.expression} AS {cast}) AS {self.column}` (or cast to {other})."
        )


def refuse_inexact_types(context: Context) -> None:
    """Raise PlatformError listing every column whose stored type would differ from DuckDB's."""
    mismatches = inexact_columns(context)
    if not mismatches:
        return
    lines = [
        f"{len(mismatches)} column(s) would be stored with a type other than the one DuckDB computes for the model's SQL "
        "(SQLMesh types a table from a static guess and casts every row into it, so values would be rounded or overflow):"
    ]
    lines += [mismatch.line() for mismatch in mismatches]
    lines.append("Nothing was built; write the casts and run again.")
    raise PlatformError("\n".join(lines))


def inexact_columns(context: Context) -> list[Mismatch]:
    """The columns of the project's SQL models whose stored type differs from DuckDB's, in build order."""
    adapter = context.engine_adapter
    adapter.execute(f"ATTACH ':memory:' AS {CATALOG}")
    try:
        mapping: dict[str, str] = {}
        mismatches: list[Mismatch] = []
        for fqn in context.dag.sorted:
            model = context.get_model(fqn)
            if model is None or model.kind.is_external or model.kind.is_symbolic:
                continue
            computed = _computed_types(adapter, model, mapping) if model.is_sql and not model.is_seed else None
            if computed is None and not model.annotated:
                continue  # neither typed here nor typed by SQLMesh: its readers are not checked
            stored = dict(model.columns_to_types or {}) if model.annotated else dict(computed or {})
            if computed is not None:
                mismatches += _compare(context, model, stored, computed)
            mapping[fqn] = _create_empty(adapter, model, stored)
        return mismatches
    finally:
        adapter.execute(f"DETACH {CATALOG}")


def _computed_types(adapter, model: Model, mapping: dict[str, str]) -> dict[str, exp.DataType] | None:
    """DuckDB's types for the model's query over its upstreams' stored types; None if it does not bind."""
    try:
        query = model.render_query(table_mapping=mapping)
        if query is None:
            return None
        rows = adapter.fetchall(f"DESCRIBE {query.sql(dialect='duckdb')}")
    except Exception:  # noqa: BLE001  the plan itself reports a query that does not render or bind
        return None
    return {name: exp.DataType.build(kind, dialect="duckdb") for name, kind, *_ in rows}


def _compare(context: Context, model: Model, stored: dict[str, exp.DataType], computed: dict[str, exp.DataType]) -> list[Mismatch]:
    path = f" ({model._path.relative_to(context.path)})" if model._path and model._path.is_relative_to(context.path) else ""
    found = []
    for column, kind in stored.items():
        if column not in computed:
            continue  # added by the model's kind (an SCD type 2 model's valid_from, valid_to)
        stored_type, computed_type = kind.sql("duckdb"), computed[column].sql("duckdb")
        if stored_type != computed_type or computed_type in UNPUBLISHABLE:
            found.append(Mismatch(model.name, path, column, stored_type, computed_type, _expression(model, column)))
    return found


def _expression(model: Model, column: str) -> str:
    """The model's expression for `column` as written, or a placeholder when it is long."""
    query = getattr(model, "query", None)
    query = query if isinstance(query, exp.Query) else None
    for projection in query.selects if query is not None else []:
        if projection.alias_or_name == column:
            text = (projection.unalias() if isinstance(projection, exp.Alias) else projection).sql(dialect=model.dialect)
            return text if len(text) <= SHOWN_EXPRESSION_CHARS else "<expression>"
    return "<expression>"


def _create_empty(adapter, model: Model, columns: dict[str, exp.DataType]) -> str:
    """An empty table with the model's stored columns in the check's catalog; its qualified name."""
    table = exp.to_table(model.fqn)
    schema, name = table.db, table.name
    adapter.execute(f'CREATE SCHEMA IF NOT EXISTS {CATALOG}."{schema}"')
    target = f'{CATALOG}."{schema}"."{name}"'
    typed = ", ".join(f'"{column}" {kind.sql("duckdb")}' for column, kind in columns.items())
    adapter.execute(f"CREATE OR REPLACE TABLE {target} ({typed})")
    return target
