"""Pipeline health: last run per job, a timeline, failure and retry rates, next scheduled runs, open alerts."""

import altair as alt
import pandas as pd
import streamlit as st

from app import charts
from app import components as ui
from app.queries import pipeline_health as health
from metrics import display

settings = ui.app_settings()
st.title("Pipeline health")
if not ui.meta_available(settings):
    st.stop()
meta = settings.meta_path

last = health.last_runs_per_job(meta)
if last is None or last.empty:
    st.info("No job has run yet. " + ui.RUN_HINT)
    st.stop()
failing = last[last["status"].isin(["partial", "failed", "timed_out", "interrupted"])]
running = last[last["status"] == "running"]
columns = st.columns(3)
columns[0].metric("Jobs", len(last), border=True)
columns[1].metric("Failing now", len(failing), border=True)
columns[2].metric("Running now", len(running), border=True)
st.subheader("Last run per job")
ui.table(last, "last_runs_per_job")

runs = health.recent_runs(meta)
assert runs is not None  # the table `last` came from
st.subheader("Timeline")
timeline = runs.assign(
    started=pd.to_datetime(runs["started_at"], utc=True, format="ISO8601"),
    finished=pd.to_datetime(runs["finished_at"].fillna(pd.Timestamp.now(tz="UTC").isoformat()), utc=True, format="ISO8601"),
)
timeline = timeline.assign(
    **{"started (UTC)": timeline["started"].dt.strftime(charts.MOMENT), "finished (UTC)": timeline["finished"].dt.strftime(charts.MOMENT)},
    status=timeline["status"].map(display.enum_label),
    error=timeline["error"].fillna("–"),
)
STATUSES = ["success", "partial", "failed", "running", "skipped", "timed_out", "interrupted", "missed"]
bars = (
    alt.Chart(timeline.drop(columns=["started_at", "finished_at"]))
    .mark_bar()
    .encode(
        charts.utc_time("started", timeline["started"], "Time (UTC)"),
        alt.X2("finished:T"),
        alt.Y("job:N", title=None),
        alt.Color(
            "status:N",
            title="Status",
            scale=alt.Scale(
                domain=[display.enum_label(status) for status in STATUSES],
                range=["#2e7d32", "#f9a825", "#c62828", "#1565c0", "#9e9e9e", "#ef6c00", "#6a1b9a", "#cfd8dc"],
            ),
        ),
        tooltip=[
            alt.Tooltip("job:N", title="Job"),
            alt.Tooltip("status:N", title="Status"),
            alt.Tooltip("started (UTC):N", title="Started (UTC)"),
            alt.Tooltip("finished (UTC):N", title="Finished (UTC)"),
            alt.Tooltip("duration_seconds:Q", title="Duration (s)", format=",.1f"),
            alt.Tooltip("rows_out:Q", title="Rows out", format=","),
            alt.Tooltip("error:N", title="Error"),
        ],
    )
)
ui.chart(bars, runs, "recent_runs")

st.subheader("Failure and retry rate")
rates = health.failure_rates(meta)
assert rates is not None  # the table `last` came from
ui.table(rates, "failure_rates")

st.subheader("Next scheduled runs")
ui.meta_table(health.scheduled_runs(meta), "scheduled_runs", source="scheduled_jobs", owner="the scheduler (`just start`)")

st.subheader("Open alerts")
ui.meta_table(health.open_alerts(meta), "open_alerts", source="alerts", owner="the scheduler's monitoring", empty="No open alerts.")
