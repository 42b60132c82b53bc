"""Customers: cohort retention, lifetime value distribution, top customers."""

import altair as alt
import streamlit as st

from app import components as ui
from app.queries import business

settings = ui.app_settings()
env = ui.environment_picker(settings)
st.title("Customers")
try:
    cohorts = ui.published_query(settings, env, business.cohort_retention)
    ltv = ui.published_query(settings, env, business.ltv_distribution)
    top = ui.published_query(settings, env, business.top_customers)
except ui.NoData as exc:
    ui.show_no_data(exc)

if cohorts.empty:
    st.info("No orders published yet. " + ui.RUN_HINT)
    st.stop()
st.caption("All time: every order published, whatever period the other pages show.")
st.subheader("Cohort retention")
st.caption("Share of each month's new customers who ordered again N months later (orders not cancelled).")
later = cohorts[cohorts["months_since_first"] > 0]
heatmap = (
    alt.Chart(cohorts)
    .mark_rect()
    .encode(
        alt.X("months_since_first:O", title="Months since first order"),
        alt.Y("yearmonth(cohort_month):O", title="Cohort"),
        # Month 0 is 100% by definition; the scale spans the later months, where cohorts differ.
        alt.Color(
            "retention:Q",
            title="Retention",
            legend=alt.Legend(format=".0%"),
            scale=alt.Scale(scheme="blues", domain=[later["retention"].min() if not later.empty else 0, 1], clamp=True),
        ),
        tooltip=[
            alt.Tooltip("cohort_month:T", title="Cohort", format="%b %Y"),
            alt.Tooltip("months_since_first:O", title="Months since first order"),
            alt.Tooltip("cohort_customers:Q", title="Customers in cohort", format=","),
            alt.Tooltip("count_active_customers:Q", title="Still ordering", format=","),
            alt.Tooltip("retention:Q", title="Retention", format=".0%"),
        ],
    )
    .properties(height=max(200, 36 * cohorts["cohort_month"].nunique()))
)
ui.chart(heatmap, cohorts, "cohort_retention")

st.subheader("Lifetime value distribution")
histogram = (
    alt.Chart(ltv)
    .mark_bar()
    .encode(
        alt.X("ltv_from:Q", bin="binned", title="Lifetime value (EUR)"),
        alt.X2("ltv_to:Q"),
        alt.Y("count_customers:Q", title="Customers"),
        tooltip=[
            alt.Tooltip("ltv_from:Q", title="From (EUR)", format=",.0f"),
            alt.Tooltip("ltv_to:Q", title="To (EUR)", format=",.0f"),
            alt.Tooltip("count_customers:Q", title="Customers", format=","),
        ],
    )
)
ui.chart(histogram, ltv, "lifetime_value_distribution")

st.subheader("Top customers")
ui.table(top, "top_customers")
