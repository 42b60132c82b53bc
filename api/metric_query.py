"""A metric read as the API takes it: grain, dimensions, period and filters from the query string, to a layer query.

`by=a,b` cuts by dimensions, `grain=month` by period, `from` and `to` bound the days, and
`where=DIMENSION=VALUE[,VALUE]` (repeatable, as `just metrics --where`) keeps those values.
Names are checked against the metric's own dimensions before metrics.layer sees them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math

import pandas as pd

from api.query import BadRequest
from metrics import layer

PARAMETERS = ("grain", "by", "from", "to", "where", "format")


def parse_metric_query(
    metric: layer.Metric,
    params: list[tuple[str, str]],
    *,
    grain: str | None,
    start: dt.date | None,
    end: dt.date | None,
) -> layer.Query:
    """The layer query the request describes; BadRequest names the parameter at fault."""
    unknown = sorted({key for key, _ in params if key not in PARAMETERS})
    if unknown:
        raise BadRequest(f"{', '.join(unknown)}: not a parameter of a metric query; use {', '.join(PARAMETERS)}.")
    if start and end and start > end:
        raise BadRequest(f"from: {start} is after to ({end}).")
    by = tuple(_dimension(metric, name, "by") for key, value in params if key == "by" for name in _split(value))
    where = []
    for key, clause in params:
        if key != "where":
            continue
        name, sep, values = clause.partition("=")
        if not sep or not _split(values):
            raise BadRequest("where: write DIMENSION=VALUE, or DIMENSION=A,B for several values.")
        where.append((_dimension(metric, name.strip(), "where"), tuple(_split(values))))
    return layer.Query((metric.name,), by=by, grain=grain, start=start, end=end, where=tuple(sorted(where)))


def etag(version: str, query: layer.Query, output: str) -> str:
    """A query on one (immutable) version always gives the same answer: its ETag needs no read."""
    key = json.dumps([version, query.metrics, query.by, query.grain, query.start, query.end, query.where, output], default=str)
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def detail(query: layer.Query, output: str) -> str:
    """What the access log keeps of the query: grain, dimension names and period; never a `where` value."""
    parts = [f"format={output}"]
    if query.grain:
        parts.append(f"grain={query.grain}")
    if query.by:
        parts.append(f"by={','.join(query.by)}")
    if query.where:
        parts.append(f"where={','.join(name for name, _ in query.where)}")
    if query.start or query.end:
        parts.append(f"period={query.start or ''}..{query.end or ''}")
    return "; ".join(parts)


def json_body(frame: pd.DataFrame, envelope: dict) -> bytes:
    """`envelope` with the frame's columns and rows: dates as ISO days, undefined values (a ratio over zero) as null."""
    rows = [[_json_value(value) for value in row] for row in frame.itertuples(index=False)]
    records = [dict(zip(frame.columns, row, strict=True)) for row in rows]
    return json.dumps({**envelope, "columns": list(frame.columns), "rows": records}).encode()


def csv_body(frame: pd.DataFrame) -> bytes:
    sink = io.StringIO()
    frame.to_csv(sink, index=False)
    return sink.getvalue().encode()


def _json_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()[:10]
    return value.item() if hasattr(value, "item") else value


def _dimension(metric: layer.Metric, name: str, parameter: str) -> str:
    if name not in metric.dimensions:
        allowed = ", ".join(metric.dimensions) or "none"
        raise BadRequest(f"{parameter}: metric '{metric.name}' cannot be cut by '{name}'; its dimensions are: {allowed}.")
    return name


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
