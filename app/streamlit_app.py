"""The Streamlit app's entry point (`just app`): login when users are configured, then the pages for the role."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` puts only app/ on the path

from app import access, auth, components  # noqa: E402 - importable only after the sys.path line above
from app.sitemap import BUSINESS_PAGES, OPERATOR_PAGES  # noqa: E402 - as above
from core.errors import PlatformError  # noqa: E402 - as above

VIEWS = Path(__file__).with_name("views")


def _pages(entries, default_first: bool = False) -> list:
    return [
        st.Page(str(VIEWS / file), title=title, icon=icon, url_path=file[:-3], default=default_first and i == 0)
        for i, (file, title, icon) in enumerate(entries)
    ]


def current_user(settings) -> auth.User | None:
    """The logged-in user; with users configured, shows the login form until one logs in."""
    try:
        users = auth.load_users(settings, components.env_for_auth())
    except PlatformError as exc:
        st.error(str(exc))
        st.stop()
    if not users:
        return None
    name = st.session_state.get("user")
    if name in users:
        return users[name]
    st.title("duckstack")
    with st.form("login"):
        username = st.text_input("User")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Log in"):
            user = auth.authenticate(users, username, password)
            if user is not None:
                st.session_state["user"] = user.name
                st.rerun()
            st.error("Unknown user or wrong password.")
    st.stop()


def main() -> None:
    st.set_page_config(page_title="duckstack", page_icon=":material/database:", layout="wide")
    settings = components.app_settings()
    user = current_user(settings)
    if user is None or user.role == auth.OPERATOR:
        components.warm_catalog(str(settings.data_dir), settings)
    navigation = {"Business": _pages(BUSINESS_PAGES, default_first=True)}
    if user is None or user.role == auth.OPERATOR:
        navigation["Operations"] = _pages(OPERATOR_PAGES)
    if user is None:
        st.sidebar.caption("Open access: no users are configured, so the app listens on localhost only.")
    else:
        st.sidebar.caption(f"Logged in as **{user.name}** ({user.role})")
        if st.sidebar.button("Log out"):
            st.session_state.pop("user", None)
            st.rerun()
    page = st.navigation(navigation)
    access.page_viewed(settings, page.title)
    page.run()


main()
