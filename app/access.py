"""The app's reads in the access log (core/accesslog.py): a view when a session arrives on a page, a download when served.

The user is the session's logged-in name, `anonymous` when no logins are configured. A page
the URL asks for that the user may not see is logged as `denied`, not as the page shown
instead; the data browser logs its views itself, naming the published version and the mart. Until
something has run there is no metadata store and nothing published to read, so the app does
not create the store to log views of empty pages; the first run creates it.
"""

from __future__ import annotations

import streamlit as st

from core import accesslog
from core.settings import Settings

LAST_VIEW = "_access_log_page"
DENIED = "denied"
SELF_LOGGED = ("Data browser",)  # pages that log their own views, with what they show (the mart)


def user_name() -> str:
    return st.session_state.get("user") or accesslog.ANONYMOUS


def page_viewed(settings: Settings, page: str, *, mart: str | None = None, version: str | None = None) -> None:
    """Log a view of `page` (of `mart`, in `version`) once per arrival: reruns of the same view (a widget changed)
    are the same view. Pages in SELF_LOGGED are logged only when they name their mart."""
    if page in SELF_LOGGED and mart is None:
        return
    view = f"{page}|{mart}|{version}"
    if st.session_state.get(LAST_VIEW) == view:
        return
    st.session_state[LAST_VIEW] = view
    detail = f"mart={mart}" if mart else None
    _record(settings, action="view", subject=page, detail=detail, version=version, client=client_address())


def page_denied(settings: Settings, page: str) -> None:
    """Log that the URL asked for `page`, which the user may not see (the app shows its first page instead)."""
    st.session_state[LAST_VIEW] = None
    _record(settings, action=DENIED, subject=page, client=client_address())


def refused_page(allowed: set[str], pages: dict[str, str]) -> str | None:
    """The title of the page the URL asked for when it is one of `pages` (url path -> title) outside `allowed`
    (the url paths the user may open); None when the URL asked for an allowed page, or for none."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.util import calc_md5

    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    manager = ctx.pages_manager
    for url_path, title in pages.items():
        asked = manager.intended_page_name == url_path or manager.intended_page_script_hash == calc_md5(url_path)
        if asked and url_path not in allowed:
            return title
    return None


def login_refused(settings: Settings, user: str, *, known: bool, reason: str) -> None:
    """A refused login, by the user's name only when `known` (a configured user): a name typed may be a password."""
    if settings.meta_path.exists():
        accesslog.login_refused(settings.meta_path, user=user, known=known, client=client_address(), reason=reason)


def current_page() -> str | None:
    """The page of the session's last logged view."""
    view = st.session_state.get(LAST_VIEW)
    return view.split("|", 1)[0] if view else None


def downloaded(settings: Settings, user: str | None, name: str, rows: int, page: str | None) -> None:
    """A download the app's server sent (app/server.py): which one, to whom, of how many rows, from which page."""
    detail = f"page={page}" if page else None
    _record(settings, action="download", subject=name, rows=rows, detail=detail, principal=user or accesslog.ANONYMOUS, client=None)


def _record(
    settings: Settings,
    *,
    action: str,
    subject: str,
    rows: int | None = None,
    detail: str | None = None,
    version: str | None = None,
    principal: str | None = None,
    client: str | None,
) -> None:
    if settings.meta_path.exists():
        accesslog.record(
            settings.meta_path,
            channel=accesslog.APP,
            principal=principal or user_name(),
            action=action,
            subject=subject,
            rows=rows,
            detail=detail,
            version=version,
            client=client,
        )


def client_address() -> str | None:
    """The browser's address as the app's server saw it; None where there is none (a test run has no browser)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None
