"""Where a source table's personal columns and key travel in the models, by SQLMesh's column lineage.

An erasure rewrites every model table that carries a declared personal column of the erased
table: `personal_columns` follows each model column back to the raw columns it is computed from,
through every model in between. A model column computed from one of the table's key columns alone
holds that part of the key by which the subject's rows are found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.lineage import column_dependencies

from core.settings import Settings
from transform.context import open_context

Origin = tuple[str, str]  # (model or raw table as SQLMesh names it, column)


@dataclass(frozen=True)
class SubjectColumns:
    """In one model: the columns holding the subject's key, one per key column in the key's order (None when
    one is computed from no key column alone), and its personal columns."""

    key: list[str] | None
    personal: list[str] = field(default_factory=list)


def personal_columns(settings: Settings, source: str, table: str, key: list[str], personal: list[str]) -> dict[str, SubjectColumns]:
    """`schema.model` -> the model's key and personal columns, for every model that carries a personal column of `source.table`."""
    context = open_context(settings)
    try:
        return _trace(context, f"raw_{source}", table, key, personal)
    finally:
        context.close()


def _trace(context: Context, raw_schema: str, table: str, key: list[str], personal: list[str]) -> dict[str, SubjectColumns]:
    origins: dict[Origin, frozenset[Origin]] = {}

    def raw_origins(model: str, column: str) -> frozenset[Origin]:
        if (model, column) not in origins:
            origins[(model, column)] = frozenset()  # a cycle (none in a DAG) ends here
            found: set[Origin] = set()
            for parent, columns in column_dependencies(context, model, column).items():
                parent_model = context.models.get(parent)
                for name in columns:
                    if parent_model is not None and parent_model.kind.is_external:
                        found.add((_short(parent), name))
                    elif parent_model is not None:
                        found |= raw_origins(parent, name)
            origins[(model, column)] = frozenset(found)
        return origins[(model, column)]

    raw_table = f"{raw_schema}.{table}"
    wanted = {(raw_table, column) for column in personal}
    carried: dict[str, SubjectColumns] = {}
    for name, model in context.models.items():
        if model.kind.is_external or model.kind.is_seed or not model.columns_to_types:
            continue
        traced = {column: raw_origins(name, column) for column in model.columns_to_types}
        found = [column for column, came_from in traced.items() if came_from & wanted]
        if found:
            keys = [next((c for c, came_from in traced.items() if came_from == {(raw_table, part)}), None) for part in key]
            carried[_short(name)] = SubjectColumns(key=None if None in keys else [c for c in keys if c is not None], personal=found)
    return carried


def _short(name: str) -> str:
    """`"warehouse"."marts"."dim_customers"` -> `marts.dim_customers`."""
    table = exp.to_table(name)
    return f"{table.db}.{table.name}"
