"""Overview: the period's KPIs with their change against the previous period, and how customers paid."""

import altair as alt
import streamlit as st

from app import components as ui
from app.queries import business
from metrics import display, layer

settings = ui.app_settings()
env = ui.environment_picker(settings)
st.title("Overview")
try:
    dates = ui.published_query(settings, env, business.order_date_range)
    if dates is None:
        raise ui.NoData("The published marts have no orders yet. " + ui.RUN_HINT)
    first, last = dates
    period = ui.period_picker(settings, first, last)
    kpis = ui.published_query(settings, env, business.kpis, period)
except ui.NoData as exc:
    ui.show_no_data(exc)

previous = period.previous()
st.caption(f"{period.start} to {period.end} ({period.days} days), compared with {previous.start} to {previous.end}.")
metrics = layer.catalog().metrics
for row in (kpis[:3], kpis[3:]):
    for column, kpi in zip(st.columns(3), row, strict=False):  # the second row may be shorter
        if kpi.change is None:
            delta = None
        elif kpi.unit == "ratio":
            delta = f"{kpi.change * 100:+.1f} pts"
        else:
            delta = f"{kpi.change:+.1%}"
        inverse = kpi.unit == "ratio"  # a higher cancellation rate is bad
        column.metric(
            kpi.label,
            display.metric_value(metrics[kpi.metric], kpi.value),
            delta,
            help=kpi.description,
            delta_color="inverse" if inverse else "normal",
            border=True,
        )
ui.table(business.kpi_table(kpis), "overview_kpis", csv=business.kpi_values(kpis))

st.subheader("How customers paid")
try:
    payments = ui.published_query(settings, env, business.payment_mix, period)
except ui.NoData as exc:  # an environment may publish the order marts without the payments
    ui.show_no_data(exc)
if payments.empty:
    st.info("No payments were taken in this period.")
else:
    st.caption(f"{metrics['amount_paid'].description} By payment method, {period.start} to {period.end}.")
    bars = (
        alt.Chart(payments.assign(payment_method=payments["payment_method"].map(display.enum_label)))
        .mark_bar()
        .encode(
            alt.X("amount_paid:Q", title="Amount paid (EUR)", axis=alt.Axis(format=",.0f")),
            alt.Y("payment_method:N", title=None, sort="-x"),
            tooltip=[
                alt.Tooltip("payment_method:N", title="Payment method"),
                alt.Tooltip("amount_paid:Q", title="Amount paid", format=",.2f"),
                alt.Tooltip("payments:Q", title="Payments", format=","),
                alt.Tooltip("share_of_amount:Q", title="Share", format=".1%"),
            ],
        )
    )
    st.altair_chart(bars, width="stretch")
    ui.metric_table(payments, "payment_method_mix", extra={"share_of_amount": ("Share of amount paid", "ratio")})
