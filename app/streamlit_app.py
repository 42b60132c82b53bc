"""The Streamlit app's entry point (`just app`): login when users are configured, then the pages for the role."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` puts only app/ on the path

from app import access, auth, components, session, throttle  # noqa: E402 - importable only after the sys.path line above
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


def _go(url: str) -> None:
    """Leave the page for one of the server's own routes (app/server.py), which set or clear the HttpOnly cookie."""
    st.html(f"<script>location.replace({json.dumps(url)});</script>", unsafe_allow_javascript=True)
    st.stop()


def _log_in_at_server(token: str) -> None:
    """Hand the new session to the server for its cookie, then come back to the URL the user asked for, logged in."""
    ticket = session.hand_over(token)
    st.html(
        "<script>location.replace('/auth/login?ticket=' + "
        f"{json.dumps(ticket)} + '&next=' + encodeURIComponent(location.pathname + location.search));</script>",
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
    user = session.logged_in(token, users, secret, settings.meta_path)
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
            _try_login(settings, users, secret, username, password)
    st.stop()


def _try_login(settings, users, secret: bytes, username: str, password: str) -> None:
    """Check the password unless the name or this client is throttled (app/throttle.py); on success, log in.
    A refused login goes to the access log."""
    keys = throttle.keys(username, st.context.ip_address)
    wait = throttle.THROTTLE.wait_seconds(*keys)
    if wait > 0:
        access.login_refused(settings, username, known=username in users, reason="throttled")
        st.error(f"Too many failed logins: try again in {math.ceil(wait)} s.")
        return
    user = auth.authenticate(users, username, password)
    if user is None:
        throttle.THROTTLE.failed(*keys)
        access.login_refused(settings, username, known=username in users, reason="wrong password")
        st.error("Unknown user or wrong password.")
        return
    throttle.THROTTLE.succeeded(*keys)
    token = session.issue(user, secret)
    st.session_state["session"] = token
    _log_in_at_server(token)


def _log_out(settings) -> None:
    """Revoke the session on the server, then let the server clear the cookie."""
    token = st.session_state.get("session")
    if token:
        session.revoke(settings.meta_path, token)
    _forget_login()
    _go("/auth/logout")


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
            _log_out(settings)
    page = st.navigation(navigation)
    operator_pages = {file[:-3]: title for file, title, _ in OPERATOR_PAGES}
    open_to_user = set(operator_pages) if user is None or user.role == auth.OPERATOR else set()
    denied = access.refused_page(open_to_user, operator_pages)
    if denied is not None:
        access.page_denied(settings, denied)
        st.warning(f"**{denied}** is for operators; showing {page.title}.")
    else:
        access.page_viewed(settings, page.title)
    page.run()


main()
