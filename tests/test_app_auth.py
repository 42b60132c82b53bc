"""App access: password hashes, users from config and env, and where `just app` listens."""

from __future__ import annotations

import pytest

from app import session
from app.auth import User, authenticate, hash_password, load_users, verify_password
from app.cli import LOCALHOST, serve, streamlit_command
from core.errors import PlatformError
from tests.support.project import ROOT, settings_for


def test_hashes_are_salted_and_verify():
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("S3cret", first)
    assert not verify_password("s3cret", "scrypt$bad")
    with pytest.raises(PlatformError, match="empty"):
        hash_password("")


def test_users_come_from_config_with_hashes_from_env(tmp_path):
    settings = settings_for(
        tmp_path,
        PLATFORM__APP__USERS__ANNA__ROLE="business",
        PLATFORM__APP__USERS__OLEG__ROLE="operator",
        PLATFORM__APP__USERS__OLEG__PASSWORD_HASH_ENV="OLEG_HASH",
    )
    env = {"APP_PASSWORD_HASH_ANNA": hash_password("a"), "OLEG_HASH": hash_password("o")}
    users = load_users(settings, env)
    assert {name: user.role for name, user in users.items()} == {"anna": "business", "oleg": "operator"}
    assert authenticate(users, "oleg", "o").role == "operator"
    assert authenticate(users, "oleg", "a") is None and authenticate(users, "nobody", "a") is None


def test_a_missing_or_malformed_hash_names_its_variable(tmp_path):
    settings = settings_for(tmp_path, PLATFORM__APP__USERS__ANNA__ROLE="business")
    with pytest.raises(PlatformError, match="set APP_PASSWORD_HASH_ANNA"):
        load_users(settings, {})
    with pytest.raises(PlatformError, match="APP_PASSWORD_HASH_ANNA is not a password hash") as info:
        load_users(settings, {"APP_PASSWORD_HASH_ANNA": "plain-text-password"})
    assert "plain-text-password" not in str(info.value)


def test_a_bad_role_is_a_settings_error(tmp_path):
    with pytest.raises(PlatformError, match="app.users.anna.role"):
        settings_for(tmp_path, PLATFORM__APP__USERS__ANNA__ROLE="admin")


def test_without_users_the_app_listens_on_localhost_only(tmp_path):
    open_settings = settings_for(tmp_path, PLATFORM__APP__ADDRESS="0.0.0.0")
    command, notice = streamlit_command(open_settings)
    assert command[command.index("--server.address") + 1] == LOCALHOST
    assert command[command.index("--server.port") + 1] == "8501"
    assert "open access" in notice
    guarded = settings_for(tmp_path, PLATFORM__APP__USERS__ANNA__ROLE="business", PLATFORM__APP__ADDRESS="0.0.0.0")
    command, notice = streamlit_command(guarded, port=9000)
    assert command[command.index("--server.address") + 1] == "0.0.0.0"
    assert command[command.index("--server.port") + 1] == "9000"


def test_a_session_cookie_logs_its_user_in_until_it_expires():
    secret = b"k" * 32
    anna = User("anna", "business", hash_password("a"))
    oleg = User("oleg", "operator", hash_password("o"))
    users = {"anna": anna, "oleg": oleg}
    token = session.issue(anna, secret, now=1_000_000, lifetime=3600)
    assert session.user_of(token, users, secret, now=1_000_000 + 3599) == anna
    assert session.user_of(token, users, secret, now=1_000_000 + 3600) is None  # expired
    name, expires, signature = token.split(".")
    other_last = "B" if signature[-1] == "A" else "A"
    tampered = [
        f"oleg.{expires}.{signature}",
        f"{name}.{int(expires) + 86400}.{signature}",
        f"{name}.{expires}.{signature[:-1]}{other_last}",
        "anna",
        "",
        None,
        "anna.soon.sig",
    ]
    for forged in tampered:
        assert session.user_of(forged, users, secret, now=1_000_000) is None, forged
    assert session.user_of(token, users, b"x" * 32, now=1_000_000) is None  # another secret
    new_password = {"anna": User("anna", "business", hash_password("a"))}
    assert session.user_of(token, new_password, secret, now=1_000_000) is None  # a changed password ends the session


def test_the_session_secret_is_required_and_never_printed(tmp_path, monkeypatch):
    for value, problem in [(None, "APP_SESSION_SECRET is not set"), ("short-secret", "APP_SESSION_SECRET is shorter than 32")]:
        with pytest.raises(PlatformError, match=problem) as info:
            session.load_secret({"APP_SESSION_SECRET": value})
        assert "short-secret" not in str(info.value)
    assert session.load_secret({"APP_SESSION_SECRET": "s" * 32}) == b"s" * 32
    (tmp_path / "config.yaml").write_text((ROOT / "config.yaml").read_text())
    monkeypatch.setenv("PLATFORM__APP__USERS__ANNA__ROLE", "business")
    monkeypatch.setenv("APP_PASSWORD_HASH_ANNA", hash_password("a"))
    monkeypatch.delenv("APP_SESSION_SECRET", raising=False)
    with pytest.raises(PlatformError, match="APP_SESSION_SECRET is not set"):
        serve(tmp_path, None)  # `just app` refuses to start
