"""Trends: revenue and orders by day, week or month over a date range."""

import altair as alt
import pandas as pd
import streamlit as st

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
        period = ui.period_picker(first, last, default_days=90)
    with right:
        grain = ui.grain_picker()
    frame = ui.published_query(settings, env, business.trends, period, grain)
except ui.NoData as exc:
    ui.show_no_data(exc)
    st.stop()

if frame.empty:
    st.info("No days in this period.")
    st.stop()
labels = {name: layer.catalog().metrics[name].label for name in business.TREND_METRICS}
date_format = "%b %Y" if grain == "month" else "%Y-%m-%d"
x = alt.X(f"{layer.PERIOD_COLUMN}:T", title=display.GRAIN_LABELS[grain], axis=alt.Axis(format=date_format))
tooltip = [alt.Tooltip(f"{layer.PERIOD_COLUMN}:T", title=display.GRAIN_LABELS[grain], format=date_format)] + [
    alt.Tooltip(f"{name}:Q", title=label, format=",.2f" if name == "revenue" else ",") for name, label in labels.items()
]
# Altair reads dates as time only from datetime columns.
dated = frame.assign(**{layer.PERIOD_COLUMN: pd.to_datetime(frame[layer.PERIOD_COLUMN])})
revenue = (
    alt.Chart(dated)
    .mark_line(point=True)
    .encode(x, alt.Y("revenue:Q", title="Revenue (EUR)", axis=alt.Axis(format=",.0f")), tooltip=tooltip)
)
orders = alt.Chart(dated).mark_bar().encode(x, alt.Y("orders:Q", title=labels["orders"]), tooltip=tooltip)
st.subheader("Revenue")
ui.chart(revenue, frame, f"revenue_by_{grain}")
st.subheader(labels["orders"])
st.altair_chart(orders, width="stretch")
ui.metric_table(frame, f"trends_by_{grain}", grain)
