"""Overview: the period's KPIs with their change against the previous period."""

import streamlit as st

from app import components as ui
from app.queries import business

settings = ui.app_settings()
env = ui.environment_picker(settings)
st.title("Overview")
try:
    dates = ui.published_query(settings, env, business.order_date_range)
    if dates is None:
        raise ui.NoData("The published marts have no orders yet. " + ui.RUN_HINT)
    first, last = dates
    period = ui.period_picker(first, last)
    kpis = ui.published_query(settings, env, business.kpis, period)
except ui.NoData as exc:
    ui.show_no_data(exc)
    st.stop()

previous = period.previous()
st.caption(f"{period.start} to {period.end} ({period.days} days), compared with {previous.start} to {previous.end}.")
FORMATS = {"eur": "€{:,.2f}", "count": "{:,.0f}", "ratio": "{:.1%}"}
for row in (kpis[:3], kpis[3:]):
    for column, kpi in zip(st.columns(3), row, strict=False):  # the second row may be shorter
        value = "–" if kpi.value is None else FORMATS[kpi.unit].format(kpi.value)
        if kpi.change is None:
            delta = None
        elif kpi.unit == "ratio":
            delta = f"{kpi.change * 100:+.1f} pts"
        else:
            delta = f"{kpi.change:+.1%}"
        inverse = kpi.unit == "ratio"  # a higher cancellation rate is bad
        column.metric(kpi.name, value, delta, delta_color="inverse" if inverse else "normal", border=True)
ui.table(business.kpi_table(kpis), "overview_kpis")
