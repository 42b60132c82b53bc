"""Trends: revenue and orders by day, week or month over a date range."""

import altair as alt
import streamlit as st

from app import components as ui
from app.queries import business

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
x = alt.X("period_start:T", title=grain.capitalize())
revenue = alt.Chart(frame).mark_line(point=True).encode(
    x, alt.Y("amount_revenue:Q", title="Revenue (EUR)"), tooltip=list(frame.columns)
)
orders = alt.Chart(frame).mark_bar().encode(x, alt.Y("count_orders:Q", title="Orders"), tooltip=list(frame.columns))
st.subheader("Revenue")
ui.chart(revenue, frame, f"revenue_by_{grain}")
st.subheader("Orders")
st.altair_chart(orders, width="stretch")
ui.table(frame, f"trends_by_{grain}")
