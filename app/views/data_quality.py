"""Data quality: SQLMesh audits per model, contracts and quarantine per table over time, monitoring anomalies."""

import altair as alt
import streamlit as st

from app import components as ui
from app.queries import quality

settings = ui.app_settings()
st.title("Data quality")
if not ui.meta_available(settings):
    st.stop()
meta = settings.meta_path

st.subheader("SQLMesh audits")
latest = quality.latest_audits(meta)
if latest is None:
    ui.missing_table("audit_results", "a build that records its audits")
else:
    failed = latest[latest["status"] != "passed"]
    st.metric("Audits failing or warning now", len(failed), border=True)
    ui.table(latest, "latest_audits")
    history = quality.audit_results(meta)
    assert history is not None  # the table `latest` came from
    per_run = history.assign(failed=history["status"] != "passed").groupby(["checked_at", "model"])["failed"].sum().reset_index()
    ui.chart(
        alt.Chart(per_run)
        .mark_circle(size=60)
        .encode(
            alt.X("checked_at:T", title="Checked at"),
            alt.Y("model:N", title=None),
            alt.Color("failed:Q", title="Audits not passed", scale=alt.Scale(scheme="reds")),
            tooltip=list(per_run.columns),
        ),
        per_run,
        "audit_history",
    )

st.subheader("Contracts and quarantine")
contracts = quality.contract_results(meta)
if contracts is None:
    ui.missing_table("contract_results", "an ingestion with data contracts")
elif contracts.empty:
    st.info("No contract checks recorded yet.")
else:
    contracts = contracts.assign(table=contracts["source"] + "." + contracts["table_name"])
    ui.chart(
        alt.Chart(contracts)
        .mark_line(point=True)
        .encode(
            alt.X("checked_at:T", title="Checked at"),
            alt.Y("rows_quarantined:Q", title="Rows quarantined"),
            alt.Color("table:N"),
            tooltip=list(contracts.columns),
        ),
        contracts,
        "contract_results",
    )
tables = quality.quarantined_tables(settings)
if tables:
    labels = [f"{source}.{table}" for source, table in tables]
    chosen = st.selectbox("Quarantined rows of", labels)
    source, table = tables[labels.index(chosen)]
    ui.table(quality.quarantine_sample(settings, source, table), f"quarantine_{source}_{table}")
else:
    st.caption("No quarantined rows in the lake.")

st.subheader("Monitoring anomalies")
ui.meta_table(
    quality.anomalies(meta), "anomalies", source="monitor_results", owner="the scheduler's monitoring", empty="No anomalies flagged."
)
