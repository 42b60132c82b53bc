"""Products and categories: ranking, share of revenue and trend, from the daily product and category sales marts."""

import altair as alt
import pandas as pd
import streamlit as st

from app import charts
from app import components as ui
from app.queries import business, products
from metrics import display

settings = ui.app_settings()
env = ui.environment_picker(settings)
st.title("Products and categories")
try:
    missing = ui.published_query(settings, env, products.missing_columns)
    if missing:
        raise ui.NoData(
            "Product performance needs the marts `marts.product_daily_sales` (one row per day and product sold), "
            "`marts.category_daily_sales` (one row per day and category) and "
            f"`marts.dim_products`, which this published version lacks (missing: {', '.join(missing)}). "
            "Run `just run` to publish every mart again."
        )
    first, last = ui.published_query(settings, env, business.order_date_range)
    period = ui.period_picker(settings, first, last)
    grain = ui.grain_picker()
    ranking = ui.published_query(settings, env, products.product_ranking, period)
    trend = ui.published_query(settings, env, products.category_trend, period, grain)
except ui.NoData as exc:
    ui.show_no_data(exc)

st.subheader("Top products by revenue")
st.caption(f"{period.start} to {period.end}.")
bars = (
    alt.Chart(ranking)
    .mark_bar()
    .encode(
        alt.X("amount_revenue:Q", title="Revenue (EUR)", axis=alt.Axis(format=",.0f")),
        alt.Y("product_name:N", sort="-x", title=None),
        alt.Color("product_category:N", title="Category"),
        tooltip=[
            alt.Tooltip("product_name:N", title="Product"),
            alt.Tooltip("product_category:N", title="Category"),
            alt.Tooltip("count_units:Q", title="Units", format=","),
            alt.Tooltip("amount_revenue:Q", title="Revenue (EUR)", format=",.2f"),
            alt.Tooltip("share_of_revenue:Q", title="Share of revenue", format=".1%"),
        ],
    )
)
st.altair_chart(bars, width="stretch")
ui.table(ranking, "product_ranking")
st.subheader("Category revenue over time")
trend = trend.assign(period_start=pd.to_datetime(trend["period_start"]))
trend["partial"] = charts.partial_periods(trend["period_start"], grain, period.start, period.end)
lines = (
    alt.Chart(trend)
    .mark_area()
    .encode(
        charts.period_axis("period_start", trend["period_start"], grain, display.GRAIN_LABELS[grain]),
        alt.Y("amount_revenue:Q", stack=True, title="Revenue (EUR)", axis=alt.Axis(format=",.0f")),
        alt.Color("product_category:N", title="Category"),
        tooltip=[
            alt.Tooltip("period_start:T", title=display.GRAIN_LABELS[grain], format="%b %Y" if grain == "month" else "%Y-%m-%d"),
            alt.Tooltip("product_category:N", title="Category"),
            alt.Tooltip("amount_revenue:Q", title="Revenue (EUR)", format=",.2f"),
            alt.Tooltip("partial:N", title="Partial period"),
        ],
    )
)
lines = alt.layer(charts.partial_bands(trend, "period_start", grain, display.GRAIN_LABELS[grain]), lines)
note = charts.partial_note(trend, "period_start", grain, period.start, period.end, drawn="shaded grey")
if note:
    st.caption(note)
ui.chart(lines, trend.assign(partial=ui.partial_days(trend["period_start"], grain, period)), f"category_revenue_by_{grain}")
