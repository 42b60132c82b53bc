"""Axes that read the same on every chart: times in 24-hour UTC, check runs as discrete moments."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd

MOMENT = "%Y-%m-%d %H:%M:%S"


def time_format(times: pd.Series) -> str:
    """A d3 time format as fine as the span of `times` needs: seconds within minutes, dates across days."""
    span = times.max() - times.min() if not times.empty else pd.Timedelta(0)
    if span < pd.Timedelta(minutes=10):
        return "%H:%M:%S"
    if span < pd.Timedelta(days=1):
        return "%H:%M"
    return "%Y-%m-%d %H:%M"


def utc_time(field: str, times: pd.Series, title: str) -> alt.X:
    """An x axis of UTC timestamps, labelled in 24-hour time whatever the viewer's time zone."""
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"), axis=alt.Axis(format=time_format(times), labelOverlap=True))


def moments(values: pd.Series) -> pd.Series:
    """ISO timestamps as `YYYY-MM-DD HH:MM:SS` (UTC) labels: one per check run, for an ordinal axis."""
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.strftime(MOMENT)


GRAIN_STEPS = {
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
    "quarter": pd.DateOffset(months=3),
    "year": pd.DateOffset(years=1),
}
_TICK_FORMATS = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%b %Y", "quarter": "%Y Q%q", "year": "%Y"}


def period_axis(field: str, starts: pd.Series, grain: str, title: str) -> alt.X:
    """An x axis of periods ticked at the periods' own first days (a week's Monday, a month's 1st), not at d3's choice."""
    axis = alt.Axis(format=_TICK_FORMATS[grain], labelOverlap="greedy")
    if grain != "day":
        days = sorted(pd.to_datetime(starts).dt.date.unique())
        axis = alt.Axis(
            format=_TICK_FORMATS[grain], labelOverlap="greedy", values=[alt.DateTime(year=d.year, month=d.month, date=d.day) for d in days]
        )
    return alt.X(f"{field}:T", title=title, axis=axis)


def partial_periods(starts: pd.Series, grain: str, first: dt.date, last: dt.date) -> pd.Series:
    """True for a period that the days `first`..`last` cover only in part (a week cut by the date range or the data's end)."""
    if grain not in GRAIN_STEPS:
        return pd.Series(False, index=starts.index)
    starts = pd.to_datetime(starts)
    ends = starts + GRAIN_STEPS[grain] - pd.Timedelta(days=1)
    return (starts < pd.Timestamp(first)) | (ends > pd.Timestamp(last))


def line_marking_partial(frame: pd.DataFrame, field: str, x: alt.X, y: alt.Y, tooltip: list, *extra) -> alt.LayerChart:
    """A line whose segments into a partial period (bool column `partial`) are dashed and whose partial points are hollow."""
    starts = sorted(frame[field].unique())
    partial = set(frame.loc[frame["partial"], field])
    near = {s for i, s in enumerate(starts) if partial & set(starts[max(i - 1, 0) : i + 2])}
    encoding = [x, y, *extra]
    solid = alt.Chart(frame[~frame["partial"]]).mark_line().encode(*encoding)
    dashed = alt.Chart(frame[frame[field].isin(near)]).mark_line(strokeDash=[5, 4], opacity=0.7).encode(*encoding)
    complete = alt.Chart(frame[~frame["partial"]]).mark_point(filled=True, size=40).encode(*encoding, tooltip=tooltip)
    hollow = alt.Chart(frame[frame["partial"]]).mark_point(filled=False, size=60).encode(*encoding, tooltip=tooltip)
    return alt.LayerChart(layer=[solid, dashed, complete, hollow])


def partial_bands(frame: pd.DataFrame, field: str, grain: str, title: str) -> alt.Chart:
    """Grey bands behind the partial periods (bool column `partial`), for charts whose marks cannot be dashed."""
    starts = pd.to_datetime(pd.Series(frame.loc[frame["partial"], field].unique()))
    bands = pd.DataFrame({"band_start": starts, "band_end": starts + GRAIN_STEPS.get(grain, pd.DateOffset(days=1))})
    return alt.Chart(bands).mark_rect(color="#9e9e9e", opacity=0.15).encode(alt.X("band_start:T", title=title), alt.X2("band_end:T"))


def partial_note(
    frame: pd.DataFrame, field: str, grain: str, first: dt.date, last: dt.date, drawn: str = "drawn hollow with a dashed line"
) -> str | None:
    """A caption naming the partial periods, or None when every period is whole."""
    cut = sorted(pd.to_datetime(frame.loc[frame["partial"], field]).dt.date.unique())
    if not cut:
        return None
    named = ", ".join(d.isoformat() for d in cut)
    return f"Partial {grain}s (the period shown is {first} to {last}): starting {named}; {drawn}, so their lower totals are not a drop."
