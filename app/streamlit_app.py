"""The Streamlit app's entry point (`just app`): login when users are configured, then the pages for the role."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` puts only app/ on the path

from app import access, auth, components, session  # noqa: E402 - importable only after the sys.path line above
from app.sitemap import BUSINESS_PAGES, OPERATOR_PAGES  # noqa: E402 - as above
from core.errors import PlatformError  # noqa: E402 - as above

VIEWS = Path(__file__).with_name("views")


def _pages(entries, default_first: bool = False) -> list:
    pages = []
    for i, (file, title, icon) in enumerate(entries):
        default = default_first and i == 0
        pages.append(st.Page(str(VIEWS / file), title=title, icon=icon, url_path="" if default else file[:-3], default=default))
        if default:  # the default page lives at `/`; its own name is a hidden alias, so `/overview` works too
            pages.append(st.Page(str(VIEWS / file), title=title, icon=icon, url_path=file[:-3], visibility="hidden"))
    return pages


def _set_cookie_and_reload(value: str, max_age: int) -> None:
    """Store the session cookie in the browser, then load the URL the user asked for again, now logged in."""
    cookie = json.dumps(f"{session.COOKIE}={value}; Max-Age={max_age}; Path=/; SameSite=Lax")
    st.html(
        f"<script>document.cookie = {cookie} + (location.protocol === 'https:' ? '; Secure' : ''); location.reload();</script>",
        unsafe_allow_javascript=True,
    )
    st.stop()


def _forget_login() -> None:
    for name in ("session", "user", "role"):
        st.session_state.pop(name, None)


def current_user(settings) -> auth.User | None:
    """The logged-in user, from the session cookie; with users configured and no valid cookie, the login form."""
    try:
        env = components.env_for_auth()
        users = auth.load_users(settings, env)
        secret = session.load_secret(env) if users else b""
    except PlatformError as exc:
        st.error(str(exc))
        st.stop()
    if not users:
        st.session_state.pop("role", None)  # open access has no role: personal data masked
        return None
    token = st.session_state.get("session") or st.context.cookies.get(session.COOKIE)
    user = session.user_of(token, users, secret)
    if user is not None:
        # the access log reads "user"; the published reads, "role" (personal data is masked for roles without access)
        st.session_state["session"], st.session_state["user"], st.session_state["role"] = token, user.name, user.role
        return user
    _forget_login()
    st.title("duckstack")
    with st.form("login"):
        username = st.text_input("User")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Log in"):
            user = auth.authenticate(users, username, password)
            if user is not None:
                token = session.issue(user, secret)
                st.session_state["session"] = token
                _set_cookie_and_reload(token, session.LIFETIME_SECONDS)
            st.error("Unknown user or wrong password.")
    st.stop()


def main() -> None:
    st.set_page_config(page_title="duckstack", page_icon="🦆", layout="wide")
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
            _forget_login()
            _set_cookie_and_reload("", 0)
    page = st.navigation(navigation)
    access.page_viewed(settings, page.title)
    page.run()


main()
