"""Freshness: every source and published mart against its SLA."""

import streamlit as st

from app import components as ui
from core.errors import PlatformError
from app.queries.freshness import AMBER, GREEN, RED, freshness

settings = ui.app_settings()
st.title("Freshness")
try:
    frame = freshness(settings)
except PlatformError as exc:
    st.warning(str(exc))
    st.stop()
counts = frame["status"].value_counts()
columns = st.columns(3)
for column, (state, icon) in zip(columns, [(GREEN, "🟢"), (AMBER, "🟠"), (RED, "🔴")]):
    column.metric(f"{icon} {state}", int(counts.get(state, 0)), border=True)
if not settings.meta_path.exists():
    st.info("Nothing has been loaded yet, so every source is red. " + ui.RUN_HINT)
st.caption(
    f"Green under {settings.app.freshness_warn_ratio:.0%} of the SLA, amber up to it, red past it or never loaded. "
    "Sources: last successful ingest; marts: last publish."
)
ICONS = {GREEN: "🟢 green", AMBER: "🟠 amber", RED: "🔴 red"}
ui.table(frame.assign(status=frame["status"].map(ICONS)), "freshness")
