"""The app's reads in the access log (core/accesslog.py): a view when a session arrives on a page, a download when served.

The user is the session's logged-in name, `anonymous` when no logins are configured. Until
something has run there is no metadata store and nothing published to read, so the app does
not create the store to log views of empty pages; the first run creates it.
"""

from __future__ import annotations

import streamlit as st

from core import accesslog
from core.settings import Settings

LAST_VIEW = "_access_log_page"


def user_name() -> str:
    return st.session_state.get("user") or accesslog.ANONYMOUS


def page_viewed(settings: Settings, page: str) -> None:
    """Log a view of `page` once per arrival: reruns of the same page (a widget changed) are the same view."""
    if st.session_state.get(LAST_VIEW) == page:
        return
    st.session_state[LAST_VIEW] = page
    _record(settings, action="view", subject=page)


def current_page() -> str | None:
    return st.session_state.get(LAST_VIEW)


def downloaded(settings: Settings, user: str | None, name: str, rows: int, page: str | None) -> None:
    """A download the app's server sent (app/server.py): which one, to whom, of how many rows, from which page."""
    _record(settings, action="download", subject=name, rows=rows, page=page, principal=user or accesslog.ANONYMOUS)


def _record(
    settings: Settings, *, action: str, subject: str, rows: int | None = None, page: str | None = None, principal: str | None = None
) -> None:
    if settings.meta_path.exists():
        accesslog.record(
            settings.meta_path,
            channel=accesslog.APP,
            principal=principal or user_name(),
            action=action,
            subject=subject,
            rows=rows,
            detail=f"page={page}" if page else None,
        )
