"""The semantic layer: the metric definitions of `metrics/definitions.yml`, compiled to SQL on the published marts.

This module reads the definitions (metrics.definitions), names the metrics the way the app,
the reports, the API and `just metrics` ask for them, checks what may be asked (a metric's
own dimensions, a known grain, one time dimension per query), writes the DuckDB SQL that
answers a question, and runs it on a connection from `publish.reader.connect_published`,
whose views `marts.<table>` the models read. The reports run the very SQL text the app runs.

The SQL is written as text from the definitions (trusted, in the repository) and from what a
question may hold once checked: known names, a known grain, typed dates, quoted values. sqlglot
is not used here: SQLMesh extends sqlglot's dialects when it is imported, and sqlglot fixes a
dialect's tokenizer and generator the first time they are used, so SQL rendered through
sqlglot before SQLMesh loads would stop SQLMesh from reading the models in that process.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from core.errors import PlatformError
from metrics.definitions import AGGREGATES, CombinedSpec, DimensionSpec, MeasureSpec, ModelSpec, load

DEFINITIONS = Path(__file__).resolve().parent / "definitions.yml"
GRAINS = ("day", "week", "month", "quarter", "year")
FORMATS = ("money", "count", "ratio")
PERIOD_COLUMN = "period_start"


@dataclass(frozen=True)
class Metric:
    """One metric as its definition states it."""

    name: str
    label: str
    description: str
    owner: str
    format: str  # money, count or ratio
    time_dimension: str  # `model.dimension`
    dimensions: tuple[str, ...]  # the dimensions it may be cut by, by name
    reference: str  # `model.metric` for a metric of a model, `metric` for one built from others
    tables: tuple[str, ...]  # the published tables it reads
    fill: float | None = None  # its value where no row counts (the definition's fill_nulls_with)
    # A derived metric over metrics of several models: their names, and its SQL over those names.
    combines: tuple[str, ...] = ()
    formula: str = ""


@dataclass(frozen=True)
class Dimension:
    name: str
    label: str
    reference: str  # `model.dimension`


@dataclass(frozen=True)
class Catalog:
    """Every metric and dimension of the definitions, by name, with the models they read."""

    metrics: dict[str, Metric]
    dimensions: dict[str, Dimension]
    models: dict[str, ModelSpec]
    # Per metric of one model: its SQL over the model's row source (the columns `m__<metric>` of
    # each of its inputs), and the metrics of the model whose input columns it reads.
    expressions: dict[str, str]
    inputs: dict[str, tuple[str, ...]]

    def metric(self, name: str) -> Metric:
        if name not in self.metrics:
            raise PlatformError(f"No metric `{name}` in {DEFINITIONS.name}; the metrics are: {', '.join(self.metrics)}.")
        return self.metrics[name]


@functools.cache
def catalog(path: Path = DEFINITIONS) -> Catalog:
    """The definitions, loaded and checked once per process."""
    definitions = load(path)
    models = {model.name: model for model in definitions.models}
    dimensions: dict[str, Dimension] = {}
    model_tables: dict[str, tuple[str, ...]] = {}
    for model in models.values():
        model_tables[model.name] = (model.table,)
        for relation in model.relationships:
            if relation.name not in models:
                raise PlatformError(f"{path}: model `{model.name}` relates to `{relation.name}`, which is no model.")
        for dim in model.dimensions:
            if dim.type == "time":
                continue
            if dim.name in dimensions:
                raise PlatformError(f"{path}: dimension `{dim.name}` is defined twice; give it one name per meaning.")
            dimensions[dim.name] = Dimension(dim.name, dim.label or dim.name, f"{model.name}.{dim.name}")
    metrics: dict[str, Metric] = {}
    expressions: dict[str, str] = {}
    inputs: dict[str, tuple[str, ...]] = {}
    for model in models.values():
        for measure in model.metrics:
            if measure.name in metrics:
                raise PlatformError(f"{path}: metric `{measure.name}` is defined twice; give it one name per meaning.")
            metrics[measure.name] = _metric(path, measure, f"{model.name}.{measure.name}", {model.name}, models, model_tables, dimensions)
            expressions[measure.name] = _aggregate(measure, model.name)
            inputs[measure.name] = (measure.name,)
    for spec in definitions.metrics:
        references = _base_references(spec)
        parts = []
        for ref in references:
            part = metrics.get(ref.split(".")[-1])
            if part is None or part.reference != ref:
                raise PlatformError(f"{path}: metric `{spec.name}` reads `{ref}`, which is no metric of a model.")
            parts.append(part)
        owners = {ref.split(".")[0] for ref in references}
        if len(owners) > 1 and spec.type == "derived":
            metrics[spec.name] = _combination(path, spec, parts, dimensions)
        else:
            metrics[spec.name] = _metric(path, spec, spec.name, owners, models, model_tables, dimensions)
            expressions[spec.name] = _built(spec, expressions)
            inputs[spec.name] = tuple(dict.fromkeys(i for part in parts for i in inputs[part.name]))
    return Catalog(metrics, dimensions, models, expressions, inputs)


REFERENCE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\b")
NAME = re.compile(r"(?<![.\w])([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")


def _aggregate(measure: MeasureSpec, model: str) -> str:
    """`agg` over the model's row source, whose column `m__<metric>` holds the metric's input (null where filtered out)."""
    sql = AGGREGATES[measure.agg].format(f"{model}.m__{measure.name}")
    if measure.fill_nulls_with is not None:
        sql = f"COALESCE({sql}, {measure.fill_nulls_with:g})"
    return sql


def _input(measure: MeasureSpec) -> str:
    """A metric's input column on its model's table: its `sql`, where every filter holds (null elsewhere)."""
    if not measure.filters:
        return measure.sql
    conditions = " AND ".join(f"({f.replace('{model}.', '')})" for f in measure.filters)
    return f"CASE WHEN {conditions} THEN {measure.sql} END"


def _built(spec: CombinedSpec, expressions: dict[str, str]) -> str:
    """A ratio or derived metric of one model, over the SQL of the metrics it reads."""
    if spec.type == "ratio":
        numerator, denominator = (expressions[str(ref).split(".")[-1]] for ref in (spec.numerator, spec.denominator))
        return f"{numerator} / NULLIF({denominator}, 0)"
    return REFERENCE.sub(lambda ref: f"({expressions[ref.group(2)]})", str(spec.sql))


def _meta(path: Path, metric: MeasureSpec | CombinedSpec, dimensions: dict) -> dict:
    """The metric's `meta`, checked: owner, a known format, a time dimension, known dimensions."""
    if metric.meta is None or not metric.label or not metric.description:
        absent = (["meta"] if metric.meta is None else []) + [key for key in ("label", "description") if not getattr(metric, key)]
        raise PlatformError(f"{path}: metric `{metric.name}` lacks {', '.join(absent)}; every metric states them.")
    meta = metric.meta.model_dump()
    if meta["format"] not in FORMATS:
        raise PlatformError(f"{path}: metric `{metric.name}` has format `{meta['format']}`; use one of {', '.join(FORMATS)}.")
    unknown = [d for d in meta["dimensions"] if d not in dimensions]
    if unknown:
        raise PlatformError(f"{path}: metric `{metric.name}` names unknown dimensions {', '.join(unknown)}.")
    return meta


def _declared(metric: MeasureSpec | CombinedSpec, meta: dict, **worked_out) -> Metric:
    """A Metric of what the definition states, with what the layer works out from it."""
    owner, unit, dimensions = meta["owner"], meta["format"], tuple(meta["dimensions"])
    return Metric(metric.name, metric.label, metric.description, owner, unit, dimensions=dimensions, **worked_out)


def _metric(
    path: Path,
    metric: MeasureSpec | CombinedSpec,
    reference: str,
    owners: set[str],
    models: dict[str, ModelSpec],
    model_tables: dict,
    dimensions: dict,
) -> Metric:
    meta = _meta(path, metric, dimensions)
    if len(owners) != 1:
        raise PlatformError(f"{path}: metric `{metric.name}` combines models {sorted(owners)}; only a derived metric may.")
    (time_model,) = owners
    model = models[time_model]
    if not any(d.type == "time" and d.name == meta["time_dimension"] for d in model.dimensions):
        raise PlatformError(f"{path}: metric `{metric.name}` is dated by `{meta['time_dimension']}`, no time dimension of `{time_model}`.")
    reachable = {time_model} | {r.name for r in model.relationships}
    for name in meta["dimensions"]:
        if dimensions[name].reference.split(".")[0] not in reachable:
            raise PlatformError(f"{path}: metric `{metric.name}` names dimension `{name}`, which `{time_model}` has no relationship to.")
    tables = model_tables[time_model] + tuple(t for d in meta["dimensions"] for t in model_tables[dimensions[d].reference.split(".")[0]])
    return _declared(
        metric,
        meta,
        time_dimension=f"{time_model}.{meta['time_dimension']}",
        reference=reference,
        tables=tuple(dict.fromkeys(tables)),
        fill=getattr(metric, "fill_nulls_with", None),
    )


def _combination(path: Path, metric: CombinedSpec, parts: list[Metric], dimensions: dict) -> Metric:
    """A derived metric over metrics of several models dated by the same day, computed on their joined results."""
    meta = _meta(path, metric, dimensions)
    dated_by = {part.time_dimension.split(".")[1] for part in parts}
    if dated_by != {meta["time_dimension"]}:
        days = ", ".join(sorted(dated_by))
        raise PlatformError(f"{path}: metric `{metric.name}` is dated by `{meta['time_dimension']}` but combines metrics dated by {days}.")
    lacking = [d for d in meta["dimensions"] if any(d not in part.dimensions for part in parts)]
    if lacking:
        raise PlatformError(f"{path}: metric `{metric.name}` names dimensions {', '.join(lacking)} that not all of its metrics have.")
    return _declared(
        metric,
        meta,
        time_dimension=parts[0].time_dimension,
        reference=metric.name,
        tables=tuple(dict.fromkeys(t for part in parts for t in part.tables)),
        combines=tuple(dict.fromkeys(part.name for part in parts)),
        formula=REFERENCE.sub(lambda ref: ref.group(2), str(metric.sql)),
    )


def _base_references(metric: CombinedSpec) -> list[str]:
    """The `model.metric` references a metric built from others divides or combines."""
    if metric.type == "ratio":
        return [str(metric.numerator), str(metric.denominator)]
    return [ref.group(0) for ref in REFERENCE.finditer(str(metric.sql))]


@dataclass(frozen=True)
class Query:
    """What to ask the layer: metrics cut by dimensions, per time grain, in a period, with filters.

    `where` maps a dimension name to the values kept.
    """

    metrics: tuple[str, ...]
    by: tuple[str, ...] = ()
    grain: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()


def compile_sql(query: Query, cat: Catalog | None = None) -> str:
    """The SQL that answers `query` on the published marts (views `marts.<table>`).

    Metrics of several models dated by the same day (orders by the day they were placed, new
    customers by the day of their first order) are compiled per model and joined on the period
    and dimensions; a metric combining them is computed on that join.
    """
    cat = cat or catalog()
    asked = [cat.metric(name) for name in query.metrics]
    if not asked:
        raise PlatformError("Name at least one metric; `just metrics` lists them.")
    dated_by = {m.time_dimension.split(".")[1] for m in asked}
    if len(dated_by) > 1:
        raise PlatformError(
            f"Metrics {', '.join(query.metrics)} are dated by different days ({', '.join(sorted(dated_by))}); query them apart."
        )
    if query.grain is not None and query.grain not in GRAINS:
        raise PlatformError(f"Grain `{query.grain}` is not one of {', '.join(GRAINS)}.")
    for name in (*query.by, *(name for name, _ in query.where)):
        for metric in asked:
            if name not in metric.dimensions:
                allowed = ", ".join(metric.dimensions) or "none"
                raise PlatformError(f"Metric `{metric.name}` cannot be cut by `{name}`; its dimensions are: {allowed}.")
    computed = dict.fromkeys(name for m in asked for name in (m.combines or (m.name,)))
    groups: dict[str, list[Metric]] = {}
    for metric in map(cat.metric, computed):
        groups.setdefault(metric.time_dimension, []).append(metric)
    parts = [_compile_group(cat, query, time_dimension, group) for time_dimension, group in groups.items()]
    if len(parts) == 1 and list(computed) == list(query.metrics):
        return parts[0] + "\n"
    keys = ([PERIOD_COLUMN] if query.grain else []) + list(query.by)
    owner = {m.name: f"part_{i}" for i, group in enumerate(groups.values()) for m in group}

    def value(metric: Metric) -> str:
        column = f"{owner[metric.name]}.{metric.name}"
        # A period or cut that one model has and another lacks: there, the other's counts and sums are its fill.
        return column if metric.fill is None else f"COALESCE({column}, {metric.fill:g})"

    def answer(metric: Metric) -> str:
        if not metric.combines:
            return value(metric)
        return NAME.sub(lambda found: value(cat.metric(found[1])) if found[1] in metric.combines else found[0], metric.formula)

    columns = [f"COALESCE({', '.join(f'part_{i}.{k}' for i in range(len(parts)))}) AS {k}" for k in keys]
    columns += [f"{answer(m)} AS {m.name}" for m in asked]
    joins = ""
    for i in range(1, len(parts)):
        if keys:
            joins += f"\nFULL JOIN part_{i}\n  ON " + "\n  AND ".join(f"part_0.{k} IS NOT DISTINCT FROM part_{i}.{k}" for k in keys)
        else:
            joins += f"\nCROSS JOIN part_{i}"
    ctes = ",\n".join(f"part_{i} AS (\n{_indent(sql)}\n)" for i, sql in enumerate(parts))
    order = f"\nORDER BY {', '.join(str(n + 1) for n in range(len(keys)))}" if keys else ""
    return f"WITH {ctes}\nSELECT\n  " + ",\n  ".join(columns) + f"\nFROM part_0{joins}{order}\n"


def _compile_group(cat: Catalog, query: Query, time_dimension: str, metrics: list[Metric]) -> str:
    """The SQL of metrics of one model: their aggregates over the model's rows, by period and dimensions.

    The model's rows are read through a row source that holds the dimensions asked and each
    metric's input (its column where its filters hold); a dimension of a related model (a
    customer's city for an order) joins that model's table by the relationship the
    definitions state (many to one: no row is counted twice).
    """
    model_name, day_name = time_dimension.split(".")
    model = cat.models[model_name]
    asked = list(dict.fromkeys((*query.by, *(name for name, _ in query.where))))
    owners = {name: cat.dimensions[name].reference.split(".")[0] for name in asked}
    related = list(dict.fromkeys(owner for owner in owners.values() if owner != model_name))
    measures = {m.name: m for m in model.metrics}
    fields = [f"{_dimension_spec(model, day_name).sql} AS d__day"]
    fields += [f"{_dimension_spec(model, name).sql} AS d__{name}" for name in asked if owners[name] == model_name]
    fields += [f"{next(r for r in model.relationships if r.name == owner).foreign_key} AS k__{owner}" for owner in related]
    fields += [f"{_input(measures[i])} AS m__{i}" for i in dict.fromkeys(i for m in metrics for i in cat.inputs[m.name])]
    sources = ["(\n  SELECT\n    " + ",\n    ".join(fields) + f"\n  FROM {model.table}\n) AS {model_name}"]
    for owner in related:
        other = cat.models[owner]
        key = next(r for r in model.relationships if r.name == owner).primary_key
        columns = [f"{key} AS k__key"] + [f"{_dimension_spec(other, name).sql} AS d__{name}" for name in asked if owners[name] == owner]
        sources.append(
            f"LEFT JOIN (\n  SELECT {', '.join(columns)} FROM {other.table}\n) AS {owner}\n  ON {model_name}.k__{owner} = {owner}.k__key"
        )

    def column(name: str) -> str:
        return f"{owners[name]}.d__{name}"

    day = f"{model_name}.d__day"
    keys = [f"CAST(DATE_TRUNC('{query.grain}', {day}) AS DATE) AS {PERIOD_COLUMN}"] if query.grain else []
    keys += [f"{column(name)} AS {name}" for name in query.by]
    # A row without the metric's day (a customer who never ordered) is in no period.
    filters = [f"{day} IS NOT NULL"]
    if query.start is not None:
        filters.append(f"{day} >= {_date(query.start)}")
    if query.end is not None:
        filters.append(f"{day} <= {_date(query.end)}")
    for name, values in query.where:
        filters.append(f"{column(name)} IN ({', '.join(_string(v) for v in values)})")
    columns = keys + [f"{cat.expressions[m.name]} AS {m.name}" for m in metrics]
    sql = "SELECT\n  " + ",\n  ".join(columns) + "\nFROM " + "\n".join(sources) + "\nWHERE " + "\n  AND ".join(filters)
    if keys:
        positions = ", ".join(str(n + 1) for n in range(len(keys)))
        sql += f"\nGROUP BY {positions}\nORDER BY {positions}"
    return sql


def _dimension_spec(model: ModelSpec, name: str) -> DimensionSpec:
    return next(d for d in model.dimensions if d.name == name)


def _indent(sql: str) -> str:
    return "\n".join(f"  {line}" for line in sql.splitlines())


def _string(value: str) -> str:
    """A value as a DuckDB string literal: a quote inside it is doubled, so nothing in it reaches the SQL as code."""
    return "'" + str(value).replace("'", "''") + "'"


def _date(value: dt.date) -> str:
    # A typed date rendered by DuckDB's own literal syntax: nothing from the user reaches the SQL as text.
    if not isinstance(value, dt.date):
        raise PlatformError(f"A period bound must be a date, not {value!r}.")
    return f"DATE '{value.isoformat()}'"


@functools.lru_cache(maxsize=1024)
def _compiled(query: Query) -> str:
    """compile_sql on the definitions, once per distinct question (a compile takes a few milliseconds, a page asks many)."""
    return compile_sql(query)


def run(con: duckdb.DuckDBPyConnection, query: Query) -> pd.DataFrame:
    """`query` answered on the published marts of `con`, one column per dimension and metric."""
    frame = con.execute(_compiled(query)).df()
    if PERIOD_COLUMN in frame:
        frame[PERIOD_COLUMN] = pd.to_datetime(frame[PERIOD_COLUMN]).dt.date
    return frame


def totals(con: duckdb.DuckDBPyConnection, metrics: tuple[str, ...], start: dt.date, end: dt.date) -> dict[str, float | None]:
    """Each metric's value over the days `start` to `end`; None where it is undefined (a ratio over zero)."""
    frame = run(con, Query(metrics, start=start, end=end))
    return {name: None if pd.isna(frame[name].iloc[0]) else frame[name].iloc[0].item() for name in metrics}


def check(con: duckdb.DuckDBPyConnection, cat: Catalog | None = None) -> list[str]:
    """Compile every metric, by each of its dimensions and by month, against the published schema of `con`.

    Returns the metrics checked; raises PlatformError naming each broken metric, the tables it
    reads and the database's own words (which name the missing column or table).
    """
    cat = cat or catalog()
    broken = []
    for metric in cat.metrics.values():
        sql = compile_sql(Query((metric.name,), by=metric.dimensions, grain="month"), cat)
        try:
            con.execute(f"DESCRIBE {sql}")
        except duckdb.Error as exc:
            broken.append(f"`{metric.name}` (reads {', '.join(metric.tables)}): {str(exc).splitlines()[0]}")
    if broken:
        raise PlatformError(
            f"{len(broken)} metric(s) of {DEFINITIONS} no longer compile against the published marts; "
            f"change the model back or the metric's definition. " + "; ".join(broken)
        )
    return list(cat.metrics)
