"""`just app` on a data folder, as a user starts it, for tests that drive it over HTTP or with Chromium."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.project import ROOT, SMALL_SCALE

JUST = Path(sys.executable).with_name("just")  # the rust-just wheel's binary, beside the venv's python
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def app_env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    env.update({"PLATFORM__DATA_DIR": str(settings.data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def just_app(settings, logs: Path, **env: str):
    """`just app` on `settings`' data folder with `env` added; yields its base URL once it answers."""
    port = free_port()
    log = open(logs / "app.log", "w+")
    server = subprocess.Popen(
        [str(JUST), "app", "--port", str(port)],
        cwd=ROOT,
        env={**app_env(settings), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"`just app` did not come up on {base}:\n{log.read()}")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@contextlib.contextmanager
def chromium():
    """Debian's headless Chromium under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page, base: str, path: str, user: str, password: str) -> None:
    """Open `path`, fill in the login form and submit it."""
    page.goto(f"{base}{path}")
    page.get_by_role("button", name="Log in").wait_for(timeout=180_000)
    page.get_by_role("textbox", name="User").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
