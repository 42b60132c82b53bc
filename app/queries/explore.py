"""The Explore page's questions to the semantic layer: what may be combined, and the answer with its comparison."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from app.queries.business import Period
from metrics import layer


@dataclass(frozen=True)
class Exploration:
    """A business user's question: metrics per grain (cut by one dimension, filtered on one), over a period."""

    metrics: tuple[str, ...]
    grain: str
    period: Period
    by: str | None = None
    filter_dimension: str | None = None
    filter_values: tuple[str, ...] = ()

    def query(self, period: Period | None = None, grain: str | None = None) -> layer.Query:
        period = period or self.period
        where = ((self.filter_dimension, self.filter_values),) if self.filter_dimension and self.filter_values else ()
        return layer.Query(self.metrics, by=(self.by,) if self.by else (), grain=grain, start=period.start, end=period.end, where=where)


def shared_dimensions(metrics: tuple[str, ...]) -> list[str]:
    """The dimensions every one of `metrics` may be cut by, in definition order."""
    cat = layer.catalog()
    if not metrics:
        return []
    first, *others = (cat.metric(name).dimensions for name in metrics)
    return [d for d in first if all(d in dims for dims in others)]


def date_range(con: duckdb.DuckDBPyConnection, metric: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day on which `metric` has rows, read from its own model's data; None when it has none."""
    frame = layer.run(con, layer.Query((metric,), grain="day"))
    days = pd.to_datetime(frame[layer.PERIOD_COLUMN]).dropna()
    return None if days.empty else (days.min().date(), days.max().date())


def dimension_values(con: duckdb.DuckDBPyConnection, metric: str, dimension: str) -> list[str]:
    """The values `dimension` takes where `metric` has data, for a filter's choices."""
    frame = layer.run(con, layer.Query((metric,), by=(dimension,)))
    return sorted(str(v) for v in frame[dimension].dropna())


def series(con: duckdb.DuckDBPyConnection, question: Exploration) -> pd.DataFrame:
    """The metrics per period (and dimension value) of the question."""
    return layer.run(con, question.query(grain=question.grain))


def comparison(con: duckdb.DuckDBPyConnection, question: Exploration) -> pd.DataFrame:
    """Each metric over the whole period and the previous one of the same length, with the change."""
    now = _totals(con, question, question.period)
    before = _totals(con, question, question.period.previous())
    rows = []
    for name in question.metrics:
        metric = layer.catalog().metric(name)
        current, previous = now[name], before[name]
        if current is None or previous is None:
            change = None
        elif metric.format == "ratio":
            change = current - previous
        else:
            change = (current - previous) / previous if previous else None
        rows.append({"metric": name, "value": current, "previous": previous, "change": change})
    return pd.DataFrame(rows)


def _totals(con: duckdb.DuckDBPyConnection, question: Exploration, period: Period) -> dict[str, float | None]:
    frame = layer.run(
        con, Exploration(question.metrics, question.grain, period, None, question.filter_dimension, question.filter_values).query()
    )
    return {name: None if pd.isna(frame[name].iloc[0]) else frame[name].iloc[0].item() for name in question.metrics}
