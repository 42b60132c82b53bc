"""The app's CSV downloads: a link per table, served by the app's own server (app/server.py) when it is asked for.

A page offers a download by registering how to make it, for the viewer's user and role; the
link carries a random token for that entry. The server answers a request for it only to the
same logged-in user (the session cookie, not revoked), makes the CSV then, and logs the
download in the access log. Nothing is put in Streamlit's media store, whose URLs answer
anyone. Entries live in the app's process for an hour; the newest few hundred are kept.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

ROUTE = "/download"
LIFETIME_SECONDS = 3600
MAX_ENTRIES = 512


@dataclass(frozen=True)
class Offer:
    user: str | None  # None: no logins configured (open local access)
    role: str | None
    name: str
    page: str | None
    make: Callable[[str | None], pd.DataFrame]  # the rows, read as the given role sees them
    made_at: float


_offers: OrderedDict[str, Offer] = OrderedDict()
_lock = threading.Lock()


def offer(user: str | None, role: str | None, name: str, page: str | None, make: Callable[[str | None], pd.DataFrame]) -> str:
    """Register a download for `user`; the URL path that serves it."""
    token = secrets.token_urlsafe(24)
    with _lock:
        _offers[token] = Offer(user, role, name, page, make, time.monotonic())
        while len(_offers) > MAX_ENTRIES:
            _offers.popitem(last=False)
    return f"{ROUTE}/{token}/{name}.csv"


def find(token: str) -> Offer | None:
    """The offer behind a token, unless unknown or older than an hour."""
    with _lock:
        found = _offers.get(token)
        if found is not None and time.monotonic() - found.made_at > LIFETIME_SECONDS:
            del _offers[token]
            return None
    return found
