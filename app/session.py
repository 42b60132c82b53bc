"""The login session: a signed cookie with an expiry, so a reload, a new tab or a shared link stays logged in.

The cookie holds `<user>.<expires unix seconds>.<signature>`; the signature is an
HMAC-SHA256, keyed by APP_SESSION_SECRET from the environment or `.env`, over the
user, the expiry and the user's password hash, so a changed password ends the
user's sessions and a changed secret ends everyone's. "Log out" revokes the cookie
on the server (its hash in meta.db) until it would have expired.

The cookie is HttpOnly, so page scripts cannot read it: the app's own server sets it
(app/server.py). After a login the page hands the new cookie over by a one-time ticket,
kept in this process for a minute.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from app.auth import User
from core import metastore
from core.errors import PlatformError

COOKIE = "duckstack_session"
SECRET_VARIABLE = "APP_SESSION_SECRET"
MIN_SECRET_CHARS = 32
LIFETIME_SECONDS = 12 * 3600


def load_secret(env: Mapping[str, str | None]) -> bytes:
    """The signing key; missing or short, it fails naming the variable (and never prints it)."""
    value = env.get(SECRET_VARIABLE) or ""
    if len(value) < MIN_SECRET_CHARS:
        problem = "is not set" if not value else f"is shorter than {MIN_SECRET_CHARS} characters"
        raise PlatformError(
            f"App users are configured but {SECRET_VARIABLE} {problem}: set it in the environment or .env to a random "
            f"string of at least {MIN_SECRET_CHARS} characters (make one with "
            "`uv run python -c 'import secrets; print(secrets.token_urlsafe(32))'`). It signs the login cookies."
        )
    return value.encode()


def issue(user: User, secret: bytes, *, now: float | None = None, lifetime: int = LIFETIME_SECONDS) -> str:
    """A cookie value that logs `user` in until `lifetime` seconds from `now`."""
    expires = int((time.time() if now is None else now) + lifetime)
    return f"{user.name}.{expires}.{_signature(user, expires, secret)}"


def user_of(token: str | None, users: Mapping[str, User], secret: bytes, *, now: float | None = None) -> User | None:
    """The user a cookie logs in; None when it is missing, malformed, tampered with, expired or of an unknown user."""
    try:
        name, expires_text, signature = (token or "").split(".")
        expires = int(expires_text)
    except ValueError:
        return None
    user = users.get(name)
    if user is None or expires <= (time.time() if now is None else now):
        return None
    return user if hmac.compare_digest(signature, _signature(user, expires, secret)) else None


def revoke(meta_path: Path, token: str) -> None:
    """End the session of `token` on the server: it no longer logs anyone in, whoever holds it."""
    expires = _expiry(token)
    if expires is None:
        return
    with contextlib.closing(metastore.connect(meta_path)) as con, con:
        con.execute("DELETE FROM revoked_sessions WHERE expires_at < ?", (int(time.time()),))
        con.execute("INSERT OR IGNORE INTO revoked_sessions VALUES (?, ?)", (_token_hash(token), expires))


def is_revoked(meta_path: Path, token: str) -> bool:
    if not meta_path.exists():
        return False
    with contextlib.closing(metastore.connect(meta_path)) as con:
        return con.execute("SELECT 1 FROM revoked_sessions WHERE token_sha256 = ?", (_token_hash(token),)).fetchone() is not None


def logged_in(token: str | None, users: Mapping[str, User], secret: bytes, meta_path: Path) -> User | None:
    """The user a cookie logs in, unless it was revoked by a logout."""
    user = user_of(token, users, secret)
    return None if user is None or is_revoked(meta_path, str(token)) else user


TICKET_SECONDS = 60
_tickets: dict[str, tuple[str, float]] = {}
_tickets_lock = threading.Lock()


def hand_over(token: str) -> str:
    """A one-time ticket for `token`, which the server's login route exchanges for the HttpOnly cookie."""
    ticket = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _tickets_lock:
        for old in [key for key, (_, made) in _tickets.items() if now - made > TICKET_SECONDS]:
            del _tickets[old]
        _tickets[ticket] = (token, now)
    return ticket


def take(ticket: str) -> str | None:
    """The cookie value a ticket stands for, once; None when unknown, used or older than a minute."""
    with _tickets_lock:
        token, made = _tickets.pop(ticket, ("", 0.0))
    return token if token and time.monotonic() - made <= TICKET_SECONDS else None


def _expiry(token: str) -> int | None:
    try:
        return int(token.split(".")[1])
    except (IndexError, ValueError):
        return None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signature(user: User, expires: int, secret: bytes) -> str:
    message = f"{user.name}.{expires}.{user.password_hash}".encode()
    return base64.urlsafe_b64encode(hmac.new(secret, message, hashlib.sha256).digest()).rstrip(b"=").decode()
