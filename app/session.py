"""The login session: a signed cookie with an expiry, so a reload, a new tab or a shared link stays logged in.

The cookie holds `<user>.<expires unix seconds>.<signature>`; the signature is an
HMAC-SHA256, keyed by APP_SESSION_SECRET from the environment or `.env`, over the
user, the expiry and the user's password hash, so a changed password ends the
user's sessions and a changed secret ends everyone's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from app.auth import User
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


def _signature(user: User, expires: int, secret: bytes) -> str:
    message = f"{user.name}.{expires}.{user.password_hash}".encode()
    return base64.urlsafe_b64encode(hmac.new(secret, message, hashlib.sha256).digest()).rstrip(b"=").decode()
