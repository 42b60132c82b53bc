"""How a metric's values read: by its format (money, count, ratio) and declared decimals, under its label."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from metrics.layer import DEFINITIONS, PERIOD_COLUMN, Catalog, Metric

GRAIN_LABELS = {"day": "Day", "week": "Week starting", "month": "Month", "quarter": "Quarter", "year": "Year"}
# Decimals each format shows unless a metric declares its own (`meta: {decimals: 2}`); ratios show as percentages.
DEFAULT_DECIMALS = {"money": 2, "count": 0, "ratio": 1}
UNITS = {"money": "EUR"}
_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def period_label(grain: str, start) -> str:
    """A period by its first day, as a reader names it: `2025-06-03`, `2025-06`, `2025-Q2`, `2025`."""
    if grain == "month":
        return start.strftime("%Y-%m")
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "year":
        return str(start.year)
    return start.isoformat()


def enum_label(value: Any) -> Any:
    """A code as words: `bank_transfer` -> "Bank transfer", `timed_out` -> "Timed out"; other values as they are."""
    if isinstance(value, str) and _CODE.match(value):
        words = value.replace("_", " ")
        return words[:1].upper() + words[1:]
    return value


@functools.cache
def declared_decimals(path: Path = DEFINITIONS) -> dict[str, int]:
    """Each metric whose definition declares `meta.decimals`, with that number (0 to 6)."""
    found: dict[str, int] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            meta = node.get("meta")
            if isinstance(meta, dict) and "decimals" in meta and isinstance(node.get("name"), str):
                value = meta["decimals"]
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 6:
                    raise ValueError(f"{path}: metric `{node['name']}` declares decimals {value!r}; give a whole number from 0 to 6.")
                found[node["name"]] = value
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(yaml.safe_load(path.read_text()))
    return found


def decimals(metric: Metric) -> int:
    """How many decimals `metric`'s values show: its declared `meta.decimals`, else its format's default."""
    return declared_decimals().get(metric.name, DEFAULT_DECIMALS[metric.format])


def format_value(fmt: str, value: float | None, places: int | None = None) -> str:
    """`€1,234.50` for money, `1,234` for counts, `6.8%` for ratios, with `places` decimals if given; `–` where there is no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    places = DEFAULT_DECIMALS[fmt] if places is None else places
    if fmt == "money":
        return f"€{value:,.{places}f}"
    if fmt == "ratio":
        return f"{value:.{places}%}"
    return f"{value:,.{places}f}"


def metric_value(metric: Metric, value: float | None) -> str:
    """One value of `metric` as it reads: its format with its decimals."""
    return format_value(metric.format, value, decimals(metric))


def titled(metric: Metric) -> str:
    """The metric's label with its unit, for an axis or a CSV header: "Revenue (EUR)"."""
    unit = UNITS.get(metric.format)
    return f"{metric.label} ({unit})" if unit else metric.label


def d3_format(metric: Metric, axis: bool = False) -> str:
    """A chart's number format for `metric`: axes in whole units (percent for ratios), tooltips with its decimals."""
    places = decimals(metric)
    if metric.format == "ratio":
        return ".0%" if axis else f".{places}%"
    if axis:
        return ",.0f" if metric.format == "money" or places == 0 else f",.{places}~f"
    return f",.{places}f"


def labelled(frame: pd.DataFrame, cat: Catalog, grain: str | None = None) -> pd.DataFrame:
    """`frame` from `layer.run` with its values formatted and its columns under their labels, for reading."""
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column == PERIOD_COLUMN:
            shown[GRAIN_LABELS[grain or "day"]] = frame[column].map(lambda d: period_label(grain or "day", d))
        elif column in cat.metrics:
            metric = cat.metrics[column]
            shown[metric.label] = frame[column].map(functools.partial(metric_value, metric))
        else:
            label = cat.dimensions[column].label if column in cat.dimensions else column
            shown[label] = frame[column].map(enum_label).fillna("–")
    return shown
