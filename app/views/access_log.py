"""Access log: who read what and when, through the data API (by key) and the app (by user)."""

import datetime as dt

import streamlit as st

from app import components as ui
from core import accesslog

DAYS = {"Today": 1, "7 days": 7, "30 days": 30, "90 days": 90, "Retained": None}

settings = ui.app_settings()
st.title("Access log")
st.caption(
    "API calls by key name (route, mart or metric, rows, status) and app page views and downloads by user; "
    f"kept {settings.jobs.access_log_days:g} days (`jobs.access_log_days`). Never a key or a filter value: only names."
)
if not ui.meta_available(settings):
    st.stop()
left, middle, right = st.columns(3)
span = DAYS[left.selectbox("Since", list(DAYS), index=1)]
since = dt.datetime.now(dt.UTC) - dt.timedelta(days=span) if span else dt.datetime.min.replace(tzinfo=dt.UTC)
channel = {"Every channel": None, "API": accesslog.API, "MCP": accesslog.MCP, "App": accesslog.APP}[
    middle.segmented_control("Channel", ["Every channel", "API", "MCP", "App"], default="Every channel") or "Every channel"
]
everyone = accesslog.recent(settings.meta_path, since, channel)
assert everyone is not None  # meta_available above: the store exists
names = sorted(everyone["principal"].unique())
principal = right.selectbox("Key or user", ["Everyone", *names])
frame = everyone if principal == "Everyone" else everyone[everyone["principal"] == principal]

reads, readers, denied = st.columns(3)
reads.metric("Reads", len(frame), border=True)
readers.metric("Keys and users", frame["principal"].nunique(), border=True)
denied.metric("Refused (401, 403, 429)", int(frame["status"].isin([401, 403, 429]).sum()), border=True)
if frame.empty:
    st.info("No reads in this span.", icon="ℹ️")
else:
    st.subheader("By key or user")
    ui.table(
        frame.groupby(["channel", "principal"], as_index=False)
        .agg(reads=("action", "size"), rows=("rows", "sum"), last_read_at=("accessed_at", "max"))
        .sort_values("last_read_at", ascending=False),
        "access_by_principal",
    )
    st.subheader("Reads, newest first")
    ui.table(frame, "access_log")
