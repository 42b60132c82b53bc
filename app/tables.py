"""How a table's columns read: a label and a format for each column, from the project's column-naming convention.

`started_at` becomes "Started (UTC)" shown to the second, `order_date` a date without
a time, `count_runs` "Runs" with thousands separators, `amount_paid` "Paid" in euros,
`failure_rate` and `share_of_revenue` percentages, `duration_seconds` "Duration (s)"
with one decimal, `size_mib` "Size (MiB)", 0/1 flags checkboxes; any other `snake_case`
name reads in sentence case. Codes in a `status`, `trigger` or `payment_method` column read
as words (`timed_out` "Timed out"); a missing number or time reads "–".

A CSV download holds the values themselves, not their display: numbers without thousands
separators or currency signs (money to the cent), ratios as fractions, times in ISO 8601 UTC,
codes as stored, under the table's headers with the unit where the format carried it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from metrics import display

# Words that read in capitals; columns that hold 0/1 flags or counts without the `is_` or `count_` prefix.
_UPPER = {"id": "ID", "sla": "SLA", "utc": "UTC"}
_FLAGS = {"blocking", "paused"}
_COUNTS = ("count_", "rows_", "failed_rows")
_SUFFIX_UNITS = {"_hours": ("hours", "%.1f"), "_seconds": ("s", "%.1f"), "_mib": ("MiB", "%.2f"), "_days": ("days", "localized")}
_CODES = ("status", "trigger", "payment_method")


def label(column: str) -> str:
    """A column's name as a header: `count_failed` -> "Failed", `sla_hours` -> "SLA (hours)"."""
    name = column.strip("_")
    unit = None
    if name.endswith("_at"):
        name, unit = name[: -len("_at")], "UTC"
    for suffix, (suffix_unit, _) in _SUFFIX_UNITS.items():
        if name.endswith(suffix):
            name, unit = name[: -len(suffix)], suffix_unit
    for prefix in ("count_", "amount_", "is_", "has_"):
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
    words = [_UPPER.get(word, word) for word in name.split("_")]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def labels(columns) -> dict[str, str]:
    """Each column's header; a column whose label another column also gets keeps its own name."""
    wanted = {column: label(column) for column in columns}
    taken = pd.Series(list(wanted.values())).value_counts()
    return {column: text if taken[text] == 1 else column for column, text in wanted.items()}


def column_config(column: str, series: pd.Series) -> Any:
    """The Streamlit column type and format for one column, by its name and values."""
    header = label(column)
    if column.endswith("_at"):
        return st.column_config.DatetimeColumn(header, format="YYYY-MM-DD HH:mm:ss", timezone="UTC")
    if column.endswith("_date") or column.endswith("_month") or _is_dates(series):
        return st.column_config.DateColumn(header, format="MMM YYYY" if column.endswith("_month") else "YYYY-MM-DD")
    if column.startswith(("is_", "has_")) or column in _FLAGS:
        return st.column_config.CheckboxColumn(header)
    if column.startswith(_COUNTS):
        return st.column_config.NumberColumn(header, format="localized")
    if column.startswith("amount_"):
        return st.column_config.NumberColumn(header, format="euro")
    if column.endswith("_rate") or column.startswith("share_") or column == "retention":
        return st.column_config.NumberColumn(header, format="percent")
    if column.endswith("_id") or column == "attempt":
        return (
            st.column_config.NumberColumn(header, format="%d")
            if pd.api.types.is_numeric_dtype(series)
            else st.column_config.TextColumn(header)
        )
    for suffix, (_, fmt) in _SUFFIX_UNITS.items():
        if column.endswith(suffix):
            return st.column_config.NumberColumn(header, format=fmt)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        integral = pd.api.types.is_integer_dtype(series) or bool((series.dropna() % 1 == 0).all())
        return st.column_config.NumberColumn(header, format="localized" if integral else "%.2f")
    return st.column_config.TextColumn(header)


def readable(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`frame` with timestamps parsed, flags as booleans, codes as words and missing values as "–", and the column configuration for it."""
    shown = frame.copy()
    for column in shown.columns:
        if column.endswith("_at") and not pd.api.types.is_datetime64_any_dtype(shown[column]):
            shown[column] = pd.to_datetime(shown[column], utc=True, format="ISO8601", errors="coerce")
        elif column.startswith(_COUNTS):
            shown[column] = pd.to_numeric(shown[column], errors="coerce")
        elif (column.startswith(("is_", "has_")) or column in _FLAGS) and pd.api.types.is_numeric_dtype(shown[column]):
            shown[column] = shown[column].astype("boolean")
        elif column in _CODES or column.endswith("_status"):
            shown[column] = shown[column].map(display.enum_label)
        if shown[column].dtype == object:
            shown[column] = shown[column].where(shown[column].notna(), "–").infer_objects()  # "None" would show; ints stay numbers
    config = {column: column_config(column, shown[column]) for column in shown.columns}
    for column in shown.columns:
        if shown[column].isna().any() and not pd.api.types.is_bool_dtype(shown[column]) and shown[column].dtype != object:
            # Streamlit draws a missing number or time as "None": such a column shows as text, formatted as its type would be
            shown[column] = _as_text(column, shown[column])
            config[column] = st.column_config.TextColumn(label(column))
    return shown, config


def _as_text(column: str, series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        fmt = "%Y-%m-%d" if column.endswith("_date") or _is_dates(series) else "%Y-%m-%d %H:%M:%S"
        return series.dt.strftime(fmt).fillna("–")
    values = series.dropna()
    if column.startswith("amount_"):
        pattern = "€{:,.2f}"
    elif column.endswith("_rate") or column.startswith("share_"):
        pattern = "{:.1%}"
    elif column.endswith(("_hours", "_seconds")):
        pattern = "{:,.1f}"
    elif column.endswith("_id"):
        pattern = "{:.0f}"
    else:
        pattern = "{:,.0f}" if bool((values % 1 == 0).all()) else "{:,.2f}"
    return series.map(lambda v: "–" if pd.isna(v) else pattern.format(v))


def for_download(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as a CSV holds it: its values (floats rounded to the cent for money, else to 6 places) under readable headers."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(2 if str(column).startswith("amount_") else 6)
    headers = labels(out.columns)
    return out.rename(columns={c: f"{h} (EUR)" if str(c).startswith("amount_") else h for c, h in headers.items()})


def _is_dates(series: pd.Series) -> bool:
    """Datetimes that are all midnight: days, shown without a time."""
    if not pd.api.types.is_datetime64_any_dtype(series):
        return False
    values = series.dropna()
    return not values.empty and bool((values == values.dt.normalize()).all())
