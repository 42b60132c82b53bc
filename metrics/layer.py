"""The semantic layer: the metric definitions of `metrics/definitions.yml`, compiled to SQL on the published marts.

Sidemantic parses the definitions and writes the SQL; this module names the metrics the
way the app, the reports and `just metrics` ask for them, checks what may be asked (a
metric's own dimensions, a known grain, one time dimension per query), and runs the SQL on
a connection from `publish.reader.connect_published`, whose views `marts.<table>` the
models read.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import sqlglot
from sidemantic import SemanticLayer
from sqlglot import exp

from core.errors import PlatformError

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
    reference: str  # how sidemantic names it: `model.metric`, or `metric` for one built from others
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
    """Every metric and dimension of the definitions, by name."""

    metrics: dict[str, Metric]
    dimensions: dict[str, Dimension]
    layer: SemanticLayer

    def metric(self, name: str) -> Metric:
        if name not in self.metrics:
            raise PlatformError(f"No metric `{name}` in {DEFINITIONS.name}; the metrics are: {', '.join(self.metrics)}.")
        return self.metrics[name]


@functools.cache
def catalog(path: Path = DEFINITIONS) -> Catalog:
    """The definitions, loaded and checked once per process."""
    try:
        layer = SemanticLayer.from_yaml(path)
    except Exception as exc:  # sidemantic raises several types for a bad file
        raise PlatformError(f"{path}: the metric definitions do not load: {exc}") from None
    graph = layer.graph
    dimensions: dict[str, Dimension] = {}
    model_tables: dict[str, tuple[str, ...]] = {}
    for model in graph.models.values():
        model_tables[model.name] = _tables(model.table or model.sql or "")
        for dim in model.dimensions:
            if dim.type == "time":
                continue
            if dim.name in dimensions:
                raise PlatformError(f"{path}: dimension `{dim.name}` is defined twice; give it one name per meaning.")
            dimensions[dim.name] = Dimension(dim.name, dim.label or dim.name, f"{model.name}.{dim.name}")
    metrics = {}
    for model in graph.models.values():
        for metric in model.metrics:
            metrics[metric.name] = _metric(path, metric, f"{model.name}.{metric.name}", {model.name}, model_tables, dimensions)
    for metric in graph.metrics.values():
        references = _base_references(metric)
        models = {ref.split(".")[0] for ref in references}
        if len(models) > 1 and metric.type == "derived":
            metrics[metric.name] = _combination(path, metric, references, metrics, dimensions)
        else:
            metrics[metric.name] = _metric(path, metric, metric.name, models, model_tables, dimensions)
    return Catalog(metrics, dimensions, layer)


def _tables(sql: str) -> tuple[str, ...]:
    if "." in sql and " " not in sql.strip():
        return (sql.strip(),)
    return tuple(sorted({f"{t.db}.{t.name}" for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)}))


def _meta(path: Path, metric, dimensions: dict) -> dict:
    """The metric's `meta`, checked: owner, a known format, a time dimension, known dimensions."""
    meta = metric.meta or {}
    missing = [key for key in ("owner", "format", "time_dimension", "dimensions") if key not in meta]
    if missing or not metric.label or not metric.description:
        absent = missing + [key for key in ("label", "description") if not getattr(metric, key)]
        raise PlatformError(f"{path}: metric `{metric.name}` lacks {', '.join(absent)}; every metric states them.")
    if meta["format"] not in FORMATS:
        raise PlatformError(f"{path}: metric `{metric.name}` has format `{meta['format']}`; use one of {', '.join(FORMATS)}.")
    unknown = [d for d in meta["dimensions"] if d not in dimensions]
    if unknown:
        raise PlatformError(f"{path}: metric `{metric.name}` names unknown dimensions {', '.join(unknown)}.")
    return meta


def _declared(metric, meta: dict, **worked_out) -> Metric:
    """A Metric of what the definition states, with what the layer works out from it."""
    owner, unit, dimensions = meta["owner"], meta["format"], tuple(meta["dimensions"])
    return Metric(metric.name, metric.label, metric.description, owner, unit, dimensions=dimensions, **worked_out)


def _metric(path: Path, metric, reference: str, models: set[str], model_tables: dict, dimensions: dict) -> Metric:
    meta = _meta(path, metric, dimensions)
    if len(models) != 1:
        raise PlatformError(f"{path}: metric `{metric.name}` combines models {sorted(models)}; only a derived metric may.")
    (time_model,) = models
    tables = model_tables[time_model] + tuple(t for d in meta["dimensions"] for t in model_tables[dimensions[d].reference.split(".")[0]])
    return _declared(
        metric,
        meta,
        time_dimension=f"{time_model}.{meta['time_dimension']}",
        reference=reference,
        tables=tuple(dict.fromkeys(tables)),
        fill=getattr(metric, "fill_nulls_with", None),
    )


def _combination(path: Path, metric, references: list[str], metrics: dict[str, Metric], dimensions: dict) -> Metric:
    """A derived metric over metrics of several models dated by the same day, computed on their joined results."""
    meta = _meta(path, metric, dimensions)
    parts = []
    for ref in references:
        part = metrics.get(ref.split(".")[-1])
        if part is None or part.reference != ref:
            raise PlatformError(f"{path}: metric `{metric.name}` reads `{ref}`, which is no metric of a model.")
        parts.append(part)
    dated_by = {part.time_dimension.split(".")[1] for part in parts}
    if dated_by != {meta["time_dimension"]}:
        days = ", ".join(sorted(dated_by))
        raise PlatformError(f"{path}: metric `{metric.name}` is dated by `{meta['time_dimension']}` but combines metrics dated by {days}.")
    lacking = [d for d in meta["dimensions"] if any(d not in part.dimensions for part in parts)]
    if lacking:
        raise PlatformError(f"{path}: metric `{metric.name}` names dimensions {', '.join(lacking)} that not all of its metrics have.")
    formula = sqlglot.parse_one(metric.sql, read="duckdb")
    for column in formula.find_all(exp.Column):
        column.set("table", None)
    return _declared(
        metric,
        meta,
        time_dimension=parts[0].time_dimension,
        reference=metric.name,
        tables=tuple(dict.fromkeys(t for part in parts for t in part.tables)),
        combines=tuple(dict.fromkeys(part.name for part in parts)),
        formula=formula.sql(dialect="duckdb"),
    )


def _base_references(metric) -> list[str]:
    """The `model.metric` references a metric built from others divides or combines."""
    if metric.type == "ratio":
        return [metric.numerator, metric.denominator]
    return [c.sql() for c in sqlglot.parse_one(metric.sql).find_all(exp.Column) if c.table]


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
        return _canonical(parts[0])
    keys = ([PERIOD_COLUMN] if query.grain else []) + list(query.by)
    owner = {m.name: f"part_{i}" for i, group in enumerate(groups.values()) for m in group}

    def value(metric: Metric) -> exp.Expression:
        column = exp.column(metric.name, table=owner[metric.name])
        # A period or cut that one model has and another lacks: there, the other's counts and sums are its fill.
        return column if metric.fill is None else exp.Coalesce(this=column, expressions=[exp.convert(metric.fill)])

    def answer(metric: Metric) -> str:
        if not metric.combines:
            return value(metric).sql("duckdb")
        formula = sqlglot.parse_one(metric.formula, read="duckdb")
        return formula.transform(lambda node: value(cat.metric(node.name)) if isinstance(node, exp.Column) else node).sql("duckdb")

    columns = [f"coalesce({', '.join(f'part_{i}.{k}' for i in range(len(parts)))}) AS {k}" for k in keys]
    columns += [f"{answer(m)} AS {m.name}" for m in asked]
    joins = ""
    for i in range(1, len(parts)):
        if keys:
            joins += f" FULL JOIN part_{i} ON " + " AND ".join(f"part_0.{k} IS NOT DISTINCT FROM part_{i}.{k}" for k in keys)
        else:
            joins += f" CROSS JOIN part_{i}"
    ctes = ", ".join(f"part_{i} AS ({sql})" for i, sql in enumerate(parts))
    order = f" ORDER BY {', '.join(str(n + 1) for n in range(len(keys)))}" if keys else ""
    return _canonical(f"WITH {ctes} SELECT {', '.join(columns)} FROM part_0{joins}{order}")


def _compile_group(cat: Catalog, query: Query, time_dimension: str, metrics: list[Metric]) -> str:
    """Sidemantic's SQL for metrics of one model, without its closing `-- sidemantic: ...` comment."""
    dimensions = [cat.dimensions[name].reference for name in query.by]
    aliases = {cat.dimensions[name].reference: name for name in query.by}
    if query.grain is not None:
        grain_ref = f"{time_dimension}__{query.grain}"
        dimensions.insert(0, grain_ref)
        aliases[grain_ref] = PERIOD_COLUMN
    # A row without the metric's day (a customer who never ordered) is in no period.
    filters = [f"{time_dimension} IS NOT NULL"]
    if query.start is not None:
        filters.append(f"{time_dimension} >= {_date(query.start)}")
    if query.end is not None:
        filters.append(f"{time_dimension} <= {_date(query.end)}")
    for name, values in query.where:
        literals = ", ".join(exp.Literal.string(str(v)).sql("duckdb") for v in values)
        filters.append(f"{cat.dimensions[name].reference} IN ({literals})")
    aliases.update({m.reference: m.name for m in metrics})
    sql = cat.layer.compile(
        metrics=[m.reference for m in metrics],
        dimensions=dimensions,
        filters=filters,
        order_by=dimensions or None,
        aliases=aliases,
    )
    return "\n".join(line for line in sql.splitlines() if not line.startswith("-- sidemantic"))


def _canonical(sql: str) -> str:
    """The same SQL for the same query in every process.

    Sidemantic lists CTEs and their columns in set order, which changes with Python's hash
    seed, and its closing comment would, in a tool that wraps the SQL in parentheses as
    Evidence does, comment out the closing one. Queries read CTE columns by name, so sorting
    them changes nothing but the text (unless they are grouped or ordered by position); a WITH's CTEs are
    sorted only when none reads another.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    for cte in tree.find_all(exp.CTE):
        # Only plain projections: positions in GROUP BY 1 or ORDER BY 1 must keep meaning.
        if isinstance(cte.this, exp.Select) and not cte.this.args.get("group") and not cte.this.args.get("order"):
            cte.this.set("expressions", sorted(cte.this.expressions, key=lambda e: e.alias_or_name))
    for with_ in tree.find_all(exp.With):
        names = {cte.alias for cte in with_.expressions}
        if not any(t.name in names for cte in with_.expressions for t in cte.this.find_all(exp.Table)):
            with_.set("expressions", sorted(with_.expressions, key=lambda cte: cte.alias))
    return tree.sql(dialect="duckdb", pretty=True, comments=False)


def _date(value: dt.date) -> str:
    # A typed date rendered by DuckDB's own literal syntax: nothing from the user reaches the SQL as text.
    if not isinstance(value, dt.date):
        raise PlatformError(f"A period bound must be a date, not {value!r}.")
    return f"DATE '{value.isoformat()}'"


@functools.lru_cache(maxsize=1024)
def _compiled(query: Query) -> str:
    """compile_sql on the definitions, once per distinct question: sidemantic spends 50-150 ms on one."""
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
