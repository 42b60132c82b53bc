"""The format of `metrics/definitions.yml`: models over published marts, their dimensions and metrics.

A model reads one published table and states its dimensions (a time dimension, categorical
ones) and its metrics (an aggregate of a column, with filters). Metrics at the top level are
built from metrics of the models: a `ratio` divides one by another, a `derived` one computes
SQL over them. Unknown keys are refused, so a misspelt key is an error naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import PlatformError

AGGREGATES = {
    "sum": "SUM({})",
    "count": "COUNT({})",
    "count_distinct": "COUNT(DISTINCT {})",
    "avg": "AVG({})",
    "min": "MIN({})",
    "max": "MAX({})",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(_Strict):
    owner: str
    format: str
    time_dimension: str
    dimensions: list[str]
    decimals: int | None = None  # shown after the point (metrics/display.py); the format's own when unset


class Relationship(_Strict):
    """A many-to-one link from this model to the model `name`: `foreign_key` here, `primary_key` there."""

    name: str
    type: Literal["many_to_one"]
    foreign_key: str
    primary_key: str


class DimensionSpec(_Strict):
    name: str
    type: Literal["time", "categorical"]
    sql: str
    granularity: Literal["day"] | None = None
    label: str
    description: str


class MeasureSpec(_Strict):
    """A metric of one model: `agg` of `sql` over the rows that pass every filter."""

    name: str
    label: str = ""
    description: str = ""
    agg: Literal["sum", "count", "count_distinct", "avg", "min", "max"]
    sql: str
    filters: list[str] = []  # SQL conditions; `{model}` stands for the model's table
    fill_nulls_with: int | float | None = None  # the value where no row counts
    meta: Meta | None = None


class ModelSpec(_Strict):
    name: str
    description: str
    table: str  # `marts.<table>`: a view of publish.reader.connect_published
    primary_key: str
    relationships: list[Relationship] = []
    dimensions: list[DimensionSpec]
    metrics: list[MeasureSpec] = []


class CombinedSpec(_Strict):
    """A metric built from metrics of the models (`model.metric`): a ratio, or SQL over them."""

    name: str
    label: str = ""
    description: str = ""
    type: Literal["ratio", "derived"]
    numerator: str | None = None
    denominator: str | None = None
    sql: str | None = None
    meta: Meta | None = None


class Definitions(_Strict):
    models: list[ModelSpec]
    metrics: list[CombinedSpec] = []


def load(path: Path) -> Definitions:
    """The definitions file, parsed and checked for shape; PlatformError names the file and the key at fault."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlatformError(f"{path}: the metric definitions do not load: {exc}") from None
    try:
        definitions = Definitions.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise PlatformError(f"{path}: the metric definitions do not load: {problems}") from None
    for spec in definitions.metrics:
        wanted = ("numerator", "denominator") if spec.type == "ratio" else ("sql",)
        missing = [key for key in wanted if not getattr(spec, key)]
        if missing:
            raise PlatformError(f"{path}: metric `{spec.name}` is a {spec.type} and lacks {', '.join(missing)}.")
    return definitions
