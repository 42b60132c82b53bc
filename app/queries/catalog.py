"""The model catalog and lineage, from the SQLMesh project's definitions alone.

The project is loaded against an in-memory engine, so the catalog never opens
the warehouse nor waits for the writer lock while a build runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.privacy import Personal, PersonalColumn
from core.settings import Settings

LAYER_ORDER = ("sources", "staging", "intermediate", "marts")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    personal: str = ""  # its mask (hash, partial, remove) when the column holds personal data
    origins: tuple[str, ...] = ()  # the source columns (`<source>.<table>.<column>`) its personal values come from


@dataclass(frozen=True)
class ModelDoc:
    name: str  # schema.table
    layer: str
    kind: str
    owner: str
    grain: str
    description: str
    columns: tuple[Column, ...]
    audits: tuple[str, ...]
    depends_on: tuple[str, ...]

    def matches(self, text: str) -> bool:
        """True when `text` appears in the name, description, owner, an audit, or a column's name or description."""
        needle = text.strip().lower()
        haystack = [self.name, self.description, self.owner, *self.audits]
        haystack += [c.name for c in self.columns] + [c.description for c in self.columns]
        return not needle or any(needle in part.lower() for part in haystack)


@dataclass(frozen=True)
class Catalog:
    models: tuple[ModelDoc, ...] = field(default_factory=tuple)

    def edges(self) -> list[tuple[str, str]]:
        return [(upstream, model.name) for model in self.models for upstream in model.depends_on]

    def search(self, text: str) -> list[ModelDoc]:
        return [model for model in self.models if model.matches(text)]

    def personal_flows(self) -> list[dict[str, str]]:
        """Per declared personal source column: its mask, and the columns it flows into, layer by layer."""
        flows: dict[str, dict[str, list[str]]] = {}
        masks: dict[str, str] = {}
        for model in self.models:
            for column in model.columns:
                for origin in column.origins:
                    flows.setdefault(origin, {}).setdefault(model.layer, []).append(f"{model.name}.{column.name} ({column.personal})")
                    if model.layer == "sources":
                        masks[origin] = column.personal
        return [
            {"source column": origin, "mask": masks.get(origin, "")}
            | {layer: ", ".join(flows[origin].get(layer, [])) or "–" for layer in LAYER_ORDER[1:]}
            for origin in sorted(flows)
        ]


def project_fingerprint(settings: Settings) -> tuple:
    """Changes whenever a model, audit or the config changes: the cache key of the catalog."""
    root = settings.project_dir
    files = [root / "config.yaml", root / "external_models.yaml"]
    for folder in ("models", "audits"):
        files += sorted((root / folder).rglob("*.sql")) if (root / folder).is_dir() else []
    return tuple((str(f.relative_to(root)), f.stat().st_mtime_ns) for f in files if f.is_file())


def load_catalog(settings: Settings) -> Catalog:
    """Every model of the project with its documentation, columns (personal ones with their mask), audits and upstream models."""
    from transform.context import definitions_context
    from transform.lineage import declared, personal_columns_of

    with definitions_context(settings) as context:
        names = {fqn: model.name for fqn, model in context.models.items()}
        personal = personal_columns_of(context, declared(settings))
        docs = [_document(model, names, personal.get(model.name, {})) for model in context.models.values()]
    docs.sort(key=lambda d: (LAYER_ORDER.index(d.layer) if d.layer in LAYER_ORDER else len(LAYER_ORDER), d.name))
    return Catalog(models=tuple(docs))


def _document(model, names: dict[str, str], personal: Personal) -> ModelDoc:
    schema = model.name.split(".")[0]
    layer = "sources" if model.kind.is_external else schema
    descriptions = model.column_descriptions or {}
    columns = tuple(
        Column(name, kind.sql(dialect="duckdb"), descriptions.get(name, ""), *_tag(personal.get(name)))
        for name, kind in (model.columns_to_types or {}).items()
    )
    return ModelDoc(
        name=model.name,
        layer=layer,
        kind=model.kind.name.value if hasattr(model.kind.name, "value") else str(model.kind.name),
        owner=model.owner or "",
        grain=", ".join(g.sql(dialect="duckdb") for g in getattr(model, "grains", []) or []),
        description=model.description or "",
        columns=columns,
        audits=tuple(name for name, _ in model.audits),
        depends_on=tuple(sorted(names.get(fqn, fqn) for fqn in model.depends_on)),
    )


def _tag(tag: PersonalColumn | None) -> tuple[str, tuple[str, ...]]:
    return ("", ()) if tag is None else (tag.mask, tag.origins)


def lineage_dot(catalog: Catalog, highlight: set[str] | frozenset[str] = frozenset()) -> str:
    """A Graphviz DOT graph of the DAG, one column per layer, sources on the left."""
    lines = ["digraph lineage {", '  rankdir=LR; node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=10];']
    colours = {"sources": "#e8eef7", "staging": "#eef7e8", "intermediate": "#f7f3e8", "marts": "#f7e8ee"}
    for layer in LAYER_ORDER:
        members = [m for m in catalog.models if m.layer == layer]
        if not members:
            continue
        lines.append(f'  subgraph "cluster_{layer}" {{ label="{layer}"; style=dashed;')
        for model in members:
            pen = ", penwidth=3" if model.name in highlight else ""
            lines.append(f'    "{model.name}" [fillcolor="{colours[layer]}"{pen}];')
        lines.append("  }")
    lines += [f'  "{a}" -> "{b}";' for a, b in catalog.edges()]
    lines.append("}")
    return "\n".join(lines)
