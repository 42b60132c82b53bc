"""API keys: names and roles from config, SHA-256 hashes from the environment or `.env`.

A key is 32 random bytes, so a fast hash is safe and every request can check one cheaply;
slow salted hashes (the app's scrypt) are for passwords that people choose. A hash looks
like `sha256:<64 hex digits>` (no `$`, which shells would expand); make a key and its hash
with `just api-key NAME`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from core.errors import PlatformError
from core.settings import Settings

SCHEME = "sha256"
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
PREFIX = "dsk_"


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: Literal["business", "operator"]
    key_hash: str


def new_key() -> str:
    """A fresh random key; the prefix lets secret scanners recognise a leaked one."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return f"{SCHEME}:{hashlib.sha256(key.encode()).hexdigest()}"


def hash_variable(name: str) -> str:
    """The environment variable that holds key `name`'s hash."""
    return f"API_KEY_HASH_{name.upper()}"


def load_keys(settings: Settings, env: Mapping[str, str | None]) -> list[ApiKey]:
    """The configured keys with their hashes; a missing or malformed hash names its variable."""
    keys = []
    for name, role in settings.api.keys.items():
        variable = hash_variable(name)
        value = (env.get(variable) or "").strip()
        if not value:
            raise PlatformError(
                f"API key '{name}' has no hash: set {variable} in the environment or .env "
                f"(make a key and its hash with `just api-key {name}`)."
            )
        if not HASH.match(value):
            raise PlatformError(f"{variable} is not a key hash made by `just api-key` (expected sha256: and 64 hex digits).")
        keys.append(ApiKey(name=name, role=role, key_hash=value))
    return keys


def identify(keys: list[ApiKey], presented: str) -> ApiKey | None:
    """The key whose hash matches `presented`, else None; every hash is compared, in constant time."""
    digest = hash_key(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(digest, key.key_hash):
            found = key
    return found
