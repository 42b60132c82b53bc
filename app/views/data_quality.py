"""Data quality: SQLMesh audits per model, contracts and quarantine per table over time, monitoring anomalies."""

import altair as alt
import pandas as pd
import streamlit as st

from app import charts
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
    per_run = (
        history.assign(checked=charts.moments(history["checked_at"]), not_passed=history["status"] != "passed")
        .groupby(["checked", "model"], as_index=False)
        .agg(audits=("audit", "count"), not_passed=("not_passed", "sum"))
    )
    per_run["outcome"] = per_run["not_passed"].map(lambda n: "all passed" if n == 0 else "some not passed")
    ui.chart(
        alt.Chart(per_run)
        .mark_circle(size=80)
        .encode(
            alt.X("checked:O", title="Checked at (UTC)", axis=alt.Axis(labelAngle=-30)),
            alt.Y("model:N", title=None, axis=alt.Axis(labelLimit=320)),
            alt.Color("outcome:N", title="Audits", scale=alt.Scale(domain=["all passed", "some not passed"], range=["#2e7d32", "#c62828"])),
            tooltip=[
                alt.Tooltip("checked:O", title="Checked at (UTC)"),
                "model",
                alt.Tooltip("audits:Q", title="audits", format=","),
                alt.Tooltip("not_passed:Q", title="not passed", format=","),
            ],
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
    contracts = contracts.assign(table=contracts["source"] + "." + contracts["table_name"], checked=charts.moments(contracts["checked_at"]))
    ui.chart(
        alt.Chart(contracts)
        .mark_line(point=True)
        .encode(
            alt.X("checked:O", title="Checked at (UTC)", axis=alt.Axis(labelAngle=-30)),
            alt.Y("rows_quarantined:Q", title="Rows quarantined", axis=alt.Axis(format=",d", tickMinStep=1)),
            alt.Color("table:N", title="Table"),
            tooltip=[
                alt.Tooltip("checked:O", title="Checked at (UTC)"),
                "table",
                alt.Tooltip("rows_in:Q", title="rows in", format=","),
                alt.Tooltip("rows_valid:Q", title="rows valid", format=","),
                alt.Tooltip("rows_quarantined:Q", title="rows quarantined", format=","),
            ],
        ),
        contracts,
        "contract_results",
    )
st.markdown("**Rejected files**: landed files none of whose rows loaded, until a new version lands or `just replay` takes them again.")
ui.meta_table(
    quality.rejected_files(meta), "rejected_files", source="landing_files", owner="a file-drop ingestion", empty="No rejected files."
)
tables = quality.quarantined_tables(settings)
if tables:
    labels = [f"{source}.{table}" for source, table in tables]
    chosen = st.selectbox("Quarantined rows of", labels)
    source, table = tables[labels.index(chosen)]
    ui.table(quality.quarantine_sample(settings, source, table, role=ui.viewer_role()), f"quarantine_{source}_{table}")
else:
    st.caption("No quarantined rows in the lake.")

st.subheader("Monitoring anomalies")
checked = quality.last_monitor_check(meta)
if checked is None:
    st.warning(
        "The monitor has not run yet, so nothing has been checked and no anomaly could be flagged. It runs on its "
        "schedule under the scheduler (`just start`); `just trigger monitor` runs it once now."
    )
else:
    st.caption(f"The monitor last checked at {charts.moments(pd.Series([checked])).iloc[0]} (UTC).")
    anomalies = quality.anomalies(meta)
    ui.meta_table(anomalies, "anomalies", source="monitor_results", owner="the scheduler's monitoring", empty="No anomalies flagged.")
