"""Explore: any metrics of the definitions, by a time grain, cut by a dimension, filtered, compared with the period before.

Every choice is kept in the URL, so a view can be bookmarked and shared.
"""

import altair as alt
import pandas as pd
import streamlit as st

from app import charts
from app import components as ui
from app.queries import explore
from core.errors import PlatformError
from metrics import display, layer

settings = ui.app_settings()
env = ui.environment_picker(settings)
st.title("Explore")
cat = layer.catalog()
names = list(cat.metrics)
CARDS_PER_ROW = 3


def _url_list(key: str, allowed: list[str]) -> list[str]:
    return [v for v in st.query_params.get(key, "").split(",") if v in allowed]


try:
    chosen = st.multiselect(
        "Metrics", names, default=_url_list("metrics", names) or ["revenue"], format_func=lambda n: cat.metrics[n].label
    )
    ui.keep_in_url("metrics", ",".join(chosen), "revenue")
    if not chosen:
        st.info("Pick at least one metric.")
        st.stop()
    ranges = [ui.published_query(settings, env, explore.date_range, name) for name in chosen]
    if all(r is None for r in ranges):
        raise ui.NoData("The published marts hold no rows for these metrics yet. " + ui.RUN_HINT)
    first, last = min(r[0] for r in ranges if r), max(r[1] for r in ranges if r)
    left, middle, right = st.columns([2, 1, 1])
    with left:
        period = ui.period_picker(settings, first, last)
    with middle:
        grain = ui.grain_picker()
    with right:
        compare = st.toggle("Compare with the period before", value=st.query_params.get("compare") == "1")
        ui.keep_in_url("compare", "1" if compare else "")
    dimensions = explore.shared_dimensions(tuple(chosen))
    by_options = ["", *dimensions]

    def label(dimension: str) -> str:
        return cat.dimensions[dimension].label if dimension else "Nothing"

    by = ui.url_choice("Cut by", by_options, "by", label)
    filter_dimension = ui.url_choice("Filter on", by_options, "filter", label)
    values: list[str] = []
    if filter_dimension:
        options = ui.published_query(settings, env, explore.dimension_values, chosen[0], filter_dimension)
        values = st.multiselect(
            f"{cat.dimensions[filter_dimension].label} is one of",
            options,
            default=_url_list("values", options),
            format_func=display.enum_label,
        )
        ui.keep_in_url("values", ",".join(values))
    question = explore.Exploration(tuple(chosen), grain, period, by or None, filter_dimension or None, tuple(values))
    layer.compile_sql(question.query(grain=grain))  # refuses what the definitions do not allow, saying why
    frame = ui.published_query(settings, env, explore.series, question)
    compared = ui.published_query(settings, env, explore.comparison, question) if compare else None
except ui.NoData as exc:
    ui.show_no_data(exc)
except PlatformError as exc:
    ui.show_error(exc)

if frame.empty:
    st.info("No data for these choices.")
    st.stop()
if compared is not None:
    previous = period.previous()
    st.caption(f"{period.start} to {period.end}, compared with {previous.start} to {previous.end}.")
    records = compared.to_dict("records")
    for row_start in range(0, len(records), CARDS_PER_ROW):  # as on Overview: a card wide enough for a total in millions
        for column, row in zip(st.columns(CARDS_PER_ROW), records[row_start : row_start + CARDS_PER_ROW], strict=False):
            metric = cat.metrics[row["metric"]]
            change = row["change"]
            delta = (
                None
                if change is None or pd.isna(change)
                else (f"{change * 100:+.1f} pts" if metric.format == "ratio" else f"{change:+.1%}")
            )
            column.metric(metric.label, display.metric_value(metric, row["value"]), delta, border=True, help=metric.description)

dated = frame.assign(**{layer.PERIOD_COLUMN: pd.to_datetime(frame[layer.PERIOD_COLUMN])})
if by:
    dated[by] = dated[by].map(display.enum_label)
dated["partial"] = charts.partial_periods(dated[layer.PERIOD_COLUMN], grain, period.start, period.end)
x = charts.period_axis(layer.PERIOD_COLUMN, dated[layer.PERIOD_COLUMN], grain, display.GRAIN_LABELS[grain])
note = charts.partial_note(dated, layer.PERIOD_COLUMN, grain, period.start, period.end)
for name in chosen:
    metric = cat.metrics[name]
    y = alt.Y(f"{name}:Q", title=display.titled(metric), axis=alt.Axis(format=display.d3_format(metric, axis=True)))
    extra = [alt.Color(f"{by}:N", title=cat.dimensions[by].label)] if by else []
    tooltip = [
        alt.Tooltip(f"{layer.PERIOD_COLUMN}:T", title=display.GRAIN_LABELS[grain], format="%b %Y" if grain == "month" else "%Y-%m-%d"),
        alt.Tooltip(f"{name}:Q", title=display.titled(metric), format=display.d3_format(metric)),
        *([alt.Tooltip(f"{by}:N", title=cat.dimensions[by].label)] if by else []),
        alt.Tooltip("partial:N", title="Partial period"),
    ]
    st.subheader(metric.label)
    if note:
        st.caption(note)
    st.altair_chart(charts.line_marking_partial(dated, layer.PERIOD_COLUMN, x, y, tooltip, *extra), width="stretch")
ui.metric_table(frame, "explore", grain, period=period)
