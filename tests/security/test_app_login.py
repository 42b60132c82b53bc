"""App logins: loopback unless told, throttled with back-off, an HttpOnly cookie that "Log out" revokes, no user-name oracle."""

from __future__ import annotations

import contextlib
import statistics
import time
import urllib.error
import urllib.request

import pytest

from app import session, throttle
from app.auth import User, authenticate, hash_password
from app.cli import streamlit_command
from tests.support.app_pages import copy_build
from tests.support.app_server import CHROMIUM, chromium, just_app, log_in
from tests.support.project import settings_for

SECRET = "s" * 40


def test_with_logins_the_app_listens_on_loopback_unless_an_address_is_set(tmp_path):
    users = {"PLATFORM__APP__USERS__ANNA__ROLE": "business"}
    command, notice = streamlit_command(settings_for(tmp_path, **users))
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert "TLS" not in notice
    command, notice = streamlit_command(settings_for(tmp_path, **users, PLATFORM__APP__ADDRESS="0.0.0.0"))
    assert command[command.index("--server.address") + 1] == "0.0.0.0"
    assert "HTTPS only, through a TLS proxy" in notice


def test_an_unknown_user_costs_a_password_hash_like_a_known_one():
    users = {"anna": User("anna", "business", hash_password("right"))}
    authenticate(users, "nobody", "x")  # the throwaway hash is made once, on the first unknown name

    def seconds(name: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            assert authenticate(users, name, "wrong") is None
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known, unknown = seconds("anna"), seconds("nobody")
    assert unknown > 0.5 * known, (known, unknown)


def test_failed_logins_lock_the_name_and_the_client_with_growing_waits():
    now = [0.0]
    gate = throttle.LoginThrottle(clock=lambda: now[0])
    anna = throttle.keys("Anna ", "10.0.0.7")
    for _ in range(throttle.FREE_FAILURES):
        assert gate.wait_seconds(*anna) == 0
        gate.failed(*anna)
    assert gate.wait_seconds(*anna) == 0
    gate.failed(*anna)  # the sixth
    assert gate.wait_seconds(*anna) == 15
    assert gate.wait_seconds(*throttle.keys("anna", "10.0.0.8")) == 15  # the name, from anywhere
    assert gate.wait_seconds(*throttle.keys("oleg", "10.0.0.7")) == 15  # the client, for any name
    assert gate.wait_seconds(*throttle.keys("oleg", "10.0.0.8")) == 0
    now[0] += 15
    gate.failed(*anna)
    assert gate.wait_seconds(*anna) == 30  # each further failure doubles the wait
    for _ in range(20):
        gate.failed(*anna)
    assert gate.wait_seconds(*anna) == throttle.MAX_LOCK_SECONDS
    gate.succeeded(*anna)
    assert gate.wait_seconds(*anna) == 0


def test_a_revoked_session_logs_nobody_in(tmp_path):
    oleg = User("oleg", "operator", hash_password("o"))
    token = session.issue(oleg, SECRET.encode())
    meta = tmp_path / "meta.db"
    assert session.logged_in(token, {"oleg": oleg}, SECRET.encode(), meta) == oleg
    session.revoke(meta, token)
    assert session.logged_in(token, {"oleg": oleg}, SECRET.encode(), meta) is None
    other = session.issue(oleg, SECRET.encode(), now=time.time() + 5)
    assert session.logged_in(other, {"oleg": oleg}, SECRET.encode(), meta) == oleg  # another login stays in


def test_the_login_cookie_is_httponly_and_secure_when_set_so(tmp_path):
    from starlette.responses import Response

    from app.server import _set_cookie

    for secure in (False, True):
        response = Response()
        _set_cookie(response, settings_for(tmp_path, PLATFORM__APP__SECURE_COOKIE=str(secure).lower()), "value", 60)
        header = response.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=lax" in header and ("Secure" in header) == secure


def _submit(page, user: str, password: str) -> None:
    """Submit the login form and wait until the app has answered."""
    page.get_by_role("textbox", name="User").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_timeout(500)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _redirect(url: str) -> tuple[int, str | None, str | None]:
    """Status, Location and Set-Cookie of a request, its redirect not followed."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=30) as response:
            return response.status, response.headers.get("Location"), response.headers.get("Set-Cookie")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location"), exc.headers.get("Set-Cookie")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_real_app_sets_an_httponly_cookie_revokes_it_at_logout_and_throttles(built, tmp_path_factory):
    settings = copy_build(built[0], tmp_path_factory.mktemp("login") / "data")
    env = {
        "PLATFORM__APP__USERS__OLEG__ROLE": "operator",
        "APP_PASSWORD_HASH_OLEG": hash_password("oleg-secret"),
        "APP_SESSION_SECRET": SECRET,
    }
    with just_app(settings, tmp_path_factory.mktemp("login-logs"), **env) as base, chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        log_in(page, base, "/freshness", "oleg", "oleg-secret")
        page.get_by_role("heading", name="Freshness").first.wait_for(timeout=180_000)
        (cookie,) = [c for c in context.cookies() if c["name"] == session.COOKIE]
        assert cookie["httpOnly"] and not cookie["secure"] and cookie["sameSite"] == "Lax"
        assert page.evaluate("document.cookie").find(session.COOKIE) == -1  # page scripts cannot read it
        token = cookie["value"]

        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
        assert session.COOKIE not in {c["name"] for c in context.cookies()}
        with contextlib.closing(browser.new_context()) as thief:  # the old cookie, replayed
            thief.add_cookies([{"name": session.COOKIE, "value": token, "url": base}])
            tab = thief.new_page()
            tab.goto(f"{base}/freshness")
            tab.get_by_role("button", name="Log in").wait_for(timeout=180_000)
            assert tab.get_by_role("heading", name="Freshness").count() == 0

        locked = page.get_by_text("Too many failed logins: try again in")
        for attempt in range(3 * throttle.FREE_FAILURES):  # wrong passwords until the name (and this client) is locked
            _submit(page, "oleg", f"guess-{attempt}")
            if locked.count():
                break
        assert locked.count() == 1, "no lock after repeated wrong passwords"
        _submit(page, "oleg", "oleg-secret")  # the right one, too soon
        page.wait_for_timeout(3_000)  # a login would have gone to /auth/login and back by now
        assert locked.count() == 1 and page.get_by_role("button", name="Log in").count() == 1
        assert session.COOKIE not in {c["name"] for c in context.cookies()}
        # a made-up ticket sets no cookie, and the way back never leaves the app
        assert _redirect(f"{base}/auth/login?ticket=forged&next=//evil.example/x") == (303, "/", None)
        context.close()
