"""Where personal data flows: each source's `personal` columns, followed through the models by SQLMesh column lineage.

A raw column is personal when its source table declares it (`raw_<source>.<table>`, what the
staging models read). A model's column is personal when its expression passes the value of a
personal column through, transformed or not (`email`, `lower(email)`, `name || city`), with the
strictest mask of those inputs and all their origins. A count, sum or average over a personal
column is not: it no longer holds a value (nor does a column that only filters or joins on one).

Loading the SQLMesh project costs seconds, so the result is kept in the data folder, keyed by
the model files and the declarations; a publish reads it from there until either changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

from sqlglot import exp
from sqlglot.lineage import Node
from sqlmesh import Context
from sqlmesh.core.lineage import lineage

from core.privacy import PersonalColumn, strictest
from core.settings import Settings
from core.settings_sources import Mask
from transform.context import definitions_context

CACHE_FILE = "personal_columns.json"
# Aggregates whose result is a number about the values, not one of them (min, max, any_value, string_agg are values).
COUNTING = (exp.Count, exp.Sum, exp.Avg, exp.ApproxDistinct, exp.Stddev, exp.Variance)

Tags = dict[str, dict[str, PersonalColumn]]  # model (`schema.table`) -> column -> tag


def declared(settings: Settings) -> dict[str, dict[str, Mask]]:
    """The declared personal columns per raw table, as the staging models read them: `raw_<source>.<table>`."""
    return {
        f"raw_{source}.{table}": dict(declaration.personal)
        for source, settings_source in settings.sources.items()
        for table, declaration in settings_source.tables.items()
        if declaration.personal
    }


def personal_columns(settings: Settings) -> Tags:
    """Every model's personal columns, from the data folder's copy while the models and declarations are unchanged
    (none, with no context opened, when no table declares any)."""
    if not declared(settings):
        return {}
    key = _fingerprint(settings)
    path = settings.data_dir / CACHE_FILE
    if path.exists():
        kept = json.loads(path.read_text())
        if kept.get("key") == key:
            return _tags_from_json(kept["models"])
    with definitions_context(settings) as context:
        tags = personal_columns_of(context, declared(settings))
    models = {model: {column: tag.to_json() for column, tag in columns.items()} for model, columns in tags.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "models": models}, indent=2))
    os.replace(tmp, path)
    return tags


def personal_columns_of(context: Context, personal: Mapping[str, Mapping[str, Mask]]) -> Tags:
    """Every model's personal columns in a loaded context, given the raw tables' declared ones (`schema.table`)."""
    names = {fqn: model.name for fqn, model in context.models.items()}
    tags: Tags = {
        table: {column: PersonalColumn(mask, (f"{table.removeprefix('raw_')}.{column}",)) for column, mask in columns.items()}
        for table, columns in personal.items()
    }
    for fqn in context.dag.sorted:
        model = context.models.get(fqn)
        if model is None or model.kind.is_external or model.kind.is_seed or not model.columns_to_types:
            continue
        found: dict[str, PersonalColumn] = {}
        for column in model.columns_to_types:
            inputs = [
                tags[upstream][name]
                for upstream, name in value_inputs(lineage(column, model, trim_selects=False), names)
                if name in tags.get(upstream, {})
            ]
            tag = strictest(inputs)
            if tag is not None:
                found[column] = tag
        if found:
            tags[model.name] = found
    return tags


def value_inputs(root: Node, names: Mapping[str, str]) -> set[tuple[str, str]]:
    """The upstream (`schema.table`, column) pairs whose values reach `root`'s column other than through a count or sum."""
    found: set[tuple[str, str]] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if not node.downstream and isinstance(node.expression, exp.Table):
            table = node.expression
            fqn = exp.table_name(table, identify=True)
            upstream = names.get(fqn) or f"{table.db}.{table.name}"
            found.add((upstream, _reference(node)[1]))
            continue
        counted = _counted_columns(node.expression)
        stack.extend(child for child in node.downstream if _reference(child) not in counted)
    return found


def _counted_columns(expression: exp.Expr) -> set[tuple[str, str]]:
    """The (table, column) references of an expression that occur only inside a count, sum or average."""
    inside: set[tuple[str, str]] = set()
    outside: set[tuple[str, str]] = set()
    for column in expression.find_all(exp.Column):
        reference = (column.table, column.name)
        (inside if _under_counting(column, expression) else outside).add(reference)
    return inside - outside


def _under_counting(column: exp.Column, top: exp.Expr) -> bool:
    node: exp.Expr | None = column
    while node is not None and node is not top:
        parent = node.parent
        if isinstance(node, COUNTING) or (isinstance(parent, exp.Filter) and isinstance(parent.this, COUNTING)):
            return True
        node = parent
    return False


def _reference(node: Node) -> tuple[str, str]:
    column = exp.to_column(node.name)
    return (column.table, column.name) if isinstance(column, exp.Column) else ("", node.name)


def _fingerprint(settings: Settings) -> str:
    root = settings.project_dir
    digest = hashlib.sha256(json.dumps(declared(settings), sort_keys=True).encode())
    files = [root / "external_models.yaml", root / "config.yaml", *sorted((root / "models").rglob("*.sql"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _tags_from_json(models: Mapping[str, Mapping[str, Mapping]]) -> Tags:
    return {model: {column: PersonalColumn.from_json(tag) for column, tag in columns.items()} for model, columns in models.items()}
