"""Environments: prod and the dev environments' published marts, what differs, and a switch to review one."""

import streamlit as st

from app import components as ui
from app.queries.environments import compare, published_environments, versions
from core.errors import PlatformError
from publish.marts import PROD

settings = ui.app_settings()
st.title("Environments")
try:
    found = published_environments(settings)
except PlatformError as exc:
    ui.show_error(exc)
if not found:
    st.info("Nothing is published yet. " + ui.RUN_HINT)
    st.stop()
st.subheader("Published versions")
ui.table(versions(found), "environment_versions")
st.subheader("Rows per table")
ui.table(compare(found), "environment_rows")
others = [name for name in found if name != PROD]
if not others:
    st.info("Only prod is published. Plan a dev environment and publish it (`curated/marts__<env>`) to review it here.")
st.subheader("Review an environment")
st.caption("Opens the business pages on that environment's published marts.")
for name in found:
    st.page_link(
        "views/overview.py",
        label=f"Business pages on {name}",
        icon=":material/open_in_new:",
        query_params={"env": name} if name != PROD else None,
    )
