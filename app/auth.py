"""Optional login: users and roles from config, scrypt password hashes from the environment or `.env`.

A hash looks like `scrypt$16384$8$1$<salt hex>$<key hex>`; make one with
`just app-password`. Business users see the business pages; operators see all.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import PlatformError
from core.settings import Settings

SCHEME = "scrypt"
BUSINESS, OPERATOR = "business", "operator"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


def hash_password(password: str, *, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    """A salted scrypt hash of `password`, with its parameters, as one string."""
    if not password:
        raise PlatformError("The password is empty.")
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"{SCHEME}${n}${r}${p}${salt.hex()}${key.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches the hash; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != SCHEME:
            return False
        expected = bytes.fromhex(key)
        actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def hash_variable(name: str, settings: Settings) -> str:
    """The environment variable that holds a user's password hash."""
    return settings.app.users[name].password_hash_env or f"APP_PASSWORD_HASH_{name.upper()}"


def load_users(settings: Settings, env: Mapping[str, str | None]) -> dict[str, User]:
    """The configured users with their hashes; a missing or malformed hash names its variable."""
    users = {}
    for name, user in settings.app.users.items():
        variable = hash_variable(name, settings)
        value = env.get(variable)
        if not value:
            raise PlatformError(
                f"App user '{name}' has no password hash: set {variable} in the environment or .env (make one with `just app-password`)."
            )
        if not value.startswith(SCHEME + "$") or value.count("$") != 5:
            raise PlatformError(f"{variable} is not a password hash made by `just app-password`.")
        users[name] = User(name=name, role=user.role, password_hash=value)
    return users


def authenticate(users: Mapping[str, User], name: str, password: str) -> User | None:
    """The user when the name and password match, else None.

    An unknown name costs one hash like a known one (against a throwaway hash), so the time
    taken does not tell which user names exist.
    """
    user = users.get(name.strip())
    matches = verify_password(password, user.password_hash if user is not None else _unknown_user_hash())
    return user if user is not None and matches else None


@functools.cache
def _unknown_user_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
