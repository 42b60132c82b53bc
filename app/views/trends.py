"""Trends: revenue and orders by day, week or month over a date range."""

import altair as alt
import pandas as pd
import streamlit as st

from app import charts
from app import components as ui
from app.queries import business
from metrics import display, layer

settings = ui.app_settings()
env = ui.environment_picker(settings)
st.title("Trends")
try:
    dates = ui.published_query(settings, env, business.order_date_range)
    if dates is None:
        raise ui.NoData("The published marts have no orders yet. " + ui.RUN_HINT)
    first, last = dates
    left, right = st.columns([2, 1])
    with left:
        period = ui.period_picker(settings, first, last)
    with right:
        grain = ui.grain_picker()
    frame = ui.published_query(settings, env, business.trends, period, grain)
except ui.NoData as exc:
    ui.show_no_data(exc)

if frame.empty:
    st.info("No days in this period.")
    st.stop()
cat = layer.catalog().metrics
labels = {name: cat[name].label for name in business.TREND_METRICS}
date_format = "%b %Y" if grain == "month" else "%Y-%m-%d"
# Altair reads dates as time only from datetime columns.
dated = frame.assign(**{layer.PERIOD_COLUMN: pd.to_datetime(frame[layer.PERIOD_COLUMN])})
dated["partial"] = charts.partial_periods(dated[layer.PERIOD_COLUMN], grain, period.start, period.end)
x = charts.period_axis(layer.PERIOD_COLUMN, dated[layer.PERIOD_COLUMN], grain, display.GRAIN_LABELS[grain])
tooltip = (
    [alt.Tooltip(f"{layer.PERIOD_COLUMN}:T", title=display.GRAIN_LABELS[grain], format=date_format)]
    + [alt.Tooltip(f"{name}:Q", title=display.titled(cat[name]), format=display.d3_format(cat[name])) for name in labels]
    + [alt.Tooltip("partial:N", title="Partial period")]
)
revenue = charts.line_marking_partial(
    dated, layer.PERIOD_COLUMN, x, alt.Y("revenue:Q", title="Revenue (EUR)", axis=alt.Axis(format=",.0f")), tooltip
)
orders = (
    alt.Chart(dated)
    .mark_bar()
    .encode(
        x,
        alt.Y("orders:Q", title=labels["orders"], axis=alt.Axis(format=",d")),
        tooltip=tooltip,
        opacity=alt.condition("datum.partial", alt.value(0.35), alt.value(1.0)),
    )
)
note = charts.partial_note(dated, layer.PERIOD_COLUMN, grain, period.start, period.end)
st.subheader("Revenue")
if note:
    st.caption(note)
st.altair_chart(revenue, width="stretch")
st.subheader(labels["orders"])
st.altair_chart(orders, width="stretch")
ui.metric_table(frame, f"trends_by_{grain}", grain, period=period)
