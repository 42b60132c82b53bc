"""Freshness: every source and published mart against its SLA."""

import streamlit as st

from app import components as ui
from app.queries.freshness import AMBER, GREEN, RED, freshness
from core.errors import PlatformError

# status: (Streamlit text colour, cell background)
COLOURS = {GREEN: ("green", "#c8e6c9"), AMBER: ("orange", "#ffe0b2"), RED: ("red", "#ffcdd2")}

settings = ui.app_settings()
st.title("Freshness")
try:
    frame = freshness(settings)
except PlatformError as exc:
    ui.show_error(exc)
counts = frame["status"].value_counts()
columns = st.columns(3)
for column, state in zip(columns, COLOURS, strict=True):
    column.metric(f":{COLOURS[state][0]}[●] {state.capitalize()}", int(counts.get(state, 0)), border=True)
if not settings.meta_path.exists():
    st.info("Nothing has been loaded yet, so every source is red. " + ui.RUN_HINT)
st.caption(
    f"Green under {settings.app.freshness_warn_ratio:.0%} of the SLA, amber up to it, red past it or never loaded. "
    "Sources: last successful ingest; marts: last publish."
)
ui.table(
    frame, "freshness", styles=lambda styler: styler.map(lambda state: f"background-color: {COLOURS[state.lower()][1]}", subset=["Status"])
)
