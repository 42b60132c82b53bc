"""How a metric's values read: by its format (money, count, ratio), under its label."""

from __future__ import annotations

import functools
import math

import pandas as pd

from metrics.layer import PERIOD_COLUMN, Catalog

GRAIN_LABELS = {"day": "Day", "week": "Week starting", "month": "Month", "quarter": "Quarter", "year": "Year"}


def period_label(grain: str, start) -> str:
    """A period by its first day, as a reader names it: `2025-06-03`, `2025-06`, `2025-Q2`, `2025`."""
    if grain == "month":
        return start.strftime("%Y-%m")
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "year":
        return str(start.year)
    return start.isoformat()


def format_value(fmt: str, value: float | None) -> str:
    """`€1,234.50` for money, `1,234` for counts, `6.8%` for ratios; `–` where there is no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if fmt == "money":
        return f"€{value:,.2f}"
    if fmt == "ratio":
        return f"{value:.1%}"
    return f"{value:,.0f}"


def labelled(frame: pd.DataFrame, cat: Catalog, grain: str | None = None) -> pd.DataFrame:
    """`frame` from `layer.run` with its values formatted and its columns under their labels, for reading."""
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column == PERIOD_COLUMN:
            shown[GRAIN_LABELS[grain or "day"]] = frame[column].map(lambda d: period_label(grain or "day", d))
        elif column in cat.metrics:
            metric = cat.metrics[column]
            shown[metric.label] = frame[column].map(functools.partial(format_value, metric.format))
        else:
            shown[cat.dimensions[column].label if column in cat.dimensions else column] = frame[column].fillna("–")
    return shown
