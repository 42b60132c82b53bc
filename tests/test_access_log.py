"""The access log: each read through the API, each page view and each download appears once, by key or user name,
with no secret and no filter value."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from api.background import running
from api.keys import load_keys
from api.server import create_app
from app import tables
from app.auth import hash_password
from core import accesslog
from tests.support.app_pages import app_on
from tests.support.project import ROOT, SMALL_SCALE, settings_for
from tests.support.s3server import free_port
from tests.test_api import API_ENV, BUSINESS_KEY, KEY_HASHES, OPERATOR_KEY, get

pytestmark = pytest.mark.slow

EMAIL = "someone.private@example.com"
CHROMIUM = Path("/usr/bin/chromium")


def logged(meta_path: Path) -> list[dict]:
    with contextlib.closing(sqlite3.connect(meta_path)) as con:
        con.row_factory = sqlite3.Row
        return [dict(row) for row in con.execute("SELECT * FROM access_log ORDER BY rowid")]


def assert_no_secret_or_value(rows: list[dict], *secrets: str) -> None:
    text = repr(rows)
    for secret in secrets:
        assert secret not in text, secret


def test_every_api_call_is_logged_once_by_key_name_with_rows_and_status(built_copy):
    settings = settings_for(built_copy.data_dir, **API_ENV)
    before = len(logged(settings.meta_path))
    with running(create_app(settings, load_keys(settings, KEY_HASHES))) as url:
        listing = get(f"{url}/marts", key=BUSINESS_KEY)
        page = get(f"{url}/marts/fct_orders/rows?order_status=delivered&order_date__gte=2025-03-01&limit=50&format=csv", key=BUSINESS_KEY)
        customers = get(f"{url}/marts/dim_customers/rows?customer_email={EMAIL}&columns=customer_id", key=OPERATOR_KEY)
        metric = get(f"{url}/metrics/revenue?grain=month&where=customer_city=Berlin,Hamburg", key=OPERATOR_KEY)
        cached = get(
            f"{url}/metrics/revenue?grain=month&where=customer_city=Berlin,Hamburg",
            key=OPERATOR_KEY,
            **{"If-None-Match": metric.headers["etag"]},
        )
        forbidden = get(f"{url}/marts/dim_customers/rows?customer_email={EMAIL}", key=BUSINESS_KEY)
        wrong = get(f"{url}/marts", key="dsk_a-wrong-key")
        missing = get(f"{url}/metrics")
        typo = get(f"{url}/marts/{EMAIL}/rows", key=OPERATOR_KEY)
        assert get(f"{url}/openapi.json").status == 200  # documentation is not a read
    assert [r.status for r in (listing, page, customers, metric, cached, forbidden, wrong, missing, typo)] == [
        200,
        200,
        200,
        200,
        304,
        403,
        401,
        401,
        404,
    ]
    rows = logged(settings.meta_path)[before:]
    version = listing.headers["x-data-version"]
    # every request that opened a version names it; a refusal before one was opened (no key) names none; all came from loopback
    assert [row["version"] for row in rows] == [version] * 6 + [None, None, version]
    assert {row["client"] for row in rows} == {"127.0.0.1"}
    strip = [{k: v for k, v in row.items() if k not in ("accessed_at", "version", "client")} for row in rows]
    assert strip == [
        {"channel": "api", "principal": "biz", "action": "GET /marts", "subject": None, "rows": None, "status": 200, "detail": None},
        {
            "channel": "api",
            "principal": "biz",
            "action": "GET /marts/{mart}/rows",
            "subject": "fct_orders",
            "rows": 50,
            "status": 200,
            "detail": "format=csv; filters=order_date__gte,order_status__eq",
        },
        {
            "channel": "api",
            "principal": "ops",
            "action": "GET /marts/{mart}/rows",
            "subject": "dim_customers",
            "rows": 0,
            "status": 200,
            "detail": "format=json; columns=customer_id; filters=customer_email__eq",
        },
        {
            "channel": "api",
            "principal": "ops",
            "action": "GET /metrics/{name}",
            "subject": "revenue",
            "rows": len(metric.json()["rows"]),
            "status": 200,
            "detail": "format=json; grain=month; where=customer_city",
        },
        {
            "channel": "api",
            "principal": "ops",
            "action": "GET /metrics/{name}",
            "subject": "revenue",
            "rows": 0,
            "status": 304,
            "detail": "format=json; grain=month; where=customer_city",
        },
        {
            "channel": "api",
            "principal": "biz",
            "action": "GET /marts/{mart}/rows",
            "subject": "dim_customers",
            "rows": None,
            "status": 403,
            "detail": None,
        },
        {
            "channel": "api",
            "principal": "(invalid key)",
            "action": "GET /marts",
            "subject": None,
            "rows": None,
            "status": 401,
            "detail": None,
        },
        {"channel": "api", "principal": "(no key)", "action": "GET /metrics", "subject": None, "rows": None, "status": 401, "detail": None},
        {
            "channel": "api",
            "principal": "ops",
            "action": "GET /marts/{mart}/rows",
            "subject": None,
            "rows": None,
            "status": 404,
            "detail": None,
        },
    ]
    assert len(metric.json()["rows"]) > 0
    assert all(dt.datetime.fromisoformat(row["accessed_at"]).tzinfo is not None for row in rows)
    assert_no_secret_or_value(
        rows, BUSINESS_KEY, OPERATOR_KEY, "dsk_a-wrong-key", *KEY_HASHES.values(), EMAIL, "Berlin", "Hamburg", "delivered", "2025-03-01"
    )


def test_page_views_are_logged_once_per_visit_by_user_and_shown_to_operators(built_copy, monkeypatch):
    settings = built_copy
    monkeypatch.setenv("PLATFORM__APP__USERS__ANNA__ROLE", "business")
    monkeypatch.setenv("PLATFORM__APP__USERS__OLEG__ROLE", "operator")
    monkeypatch.setenv("APP_PASSWORD_HASH_ANNA", hash_password("anna-secret"))
    monkeypatch.setenv("APP_PASSWORD_HASH_OLEG", hash_password("oleg-secret"))
    monkeypatch.setenv("APP_SESSION_SECRET", "s" * 32)
    before = len(logged(settings.meta_path))
    at = app_on(settings.data_dir, monkeypatch)
    assert logged(settings.meta_path)[before:] == []  # the login form is not a page view
    at.text_input[0].input("anna")
    at.text_input[1].input("anna-secret")
    at.button[0].click().run().run()  # the browser reloads once the session cookie is set
    assert at.title[0].value == "Overview"
    at.run()  # a rerun of the same page (as after a widget change) is the same view
    at.switch_page("views/trends.py").run()
    at.switch_page("views/overview.py").run()
    views = [(r["channel"], r["principal"], r["action"], r["subject"]) for r in logged(settings.meta_path)[before:]]
    assert views == [("app", "anna", "view", "Overview"), ("app", "anna", "view", "Trends"), ("app", "anna", "view", "Overview")]

    operator = app_on(settings.data_dir, monkeypatch)
    operator.text_input[0].input("oleg")
    operator.text_input[1].input("oleg-secret")
    operator.button[0].click().run().run()
    operator.switch_page("views/access_log.py").run()
    assert not operator.exception, [e.value for e in operator.exception]
    assert operator.title[0].value == "Access log"
    shown = operator.dataframe[-1].value
    assert list(shown.columns) == [tables.label(column) for column in accesslog.COLUMNS]
    assert list(shown["Principal"][:2]) == ["oleg", "oleg"] and list(shown["Subject"][:2]) == ["Access log", "Overview"]
    assert {"anna", "oleg"} <= set(shown["Principal"])
    rows = logged(settings.meta_path)[before:]
    assert_no_secret_or_value(
        rows, "anna-secret", "oleg-secret", os.environ["APP_PASSWORD_HASH_ANNA"], os.environ["APP_PASSWORD_HASH_OLEG"]
    )


def test_without_logins_the_reader_is_anonymous_and_nothing_is_logged_before_the_first_run(built_copy, tmp_path, monkeypatch):
    before = len(logged(built_copy.meta_path))
    app_on(built_copy.data_dir, monkeypatch, "customers")
    assert [(r["principal"], r["subject"]) for r in logged(built_copy.meta_path)[before:]] == [
        ("anonymous", "Overview"),
        ("anonymous", "Customers"),
    ]
    empty = tmp_path / "empty"
    at = app_on(empty, monkeypatch, "access_log")
    assert not at.exception and any("just run" in info.value for info in at.info)
    assert not (empty / "meta.db").exists()


def test_retention_prunes_reads_older_than_access_log_days(tmp_path):
    settings = settings_for(tmp_path / "data", PLATFORM__JOBS__ACCESS_LOG_DAYS="30")
    accesslog.record(settings.meta_path, channel="api", principal="biz", action="GET /marts", status=200)
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con, con:
        con.execute("UPDATE access_log SET accessed_at = ?", ((dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).isoformat(),))
    accesslog.record(settings.meta_path, channel="app", principal="anonymous", action="view", subject="Overview")
    from scheduler.service import Service

    Service(settings).prune_history()
    assert [(r["principal"], r["subject"]) for r in logged(settings.meta_path)] == [("anonymous", "Overview")]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_download_in_the_browser_is_logged_once_with_its_rows(built_copy, tmp_path):
    from playwright.sync_api import sync_playwright

    settings = built_copy
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    env.update({"PLATFORM__DATA_DIR": str(settings.data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE})
    log = open(tmp_path / "app.log", "w+")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("just")), "app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            assert server.poll() is None and time.monotonic() < deadline, "`just app` did not come up"
            time.sleep(0.5)
        before = len(logged(settings.meta_path))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/freshness")
            button = page.get_by_role("link", name="Download freshness (CSV)")
            button.wait_for(timeout=180_000)
            with page.expect_download(timeout=60_000) as download:
                button.click()
            csv_rows = len(Path(download.value.path()).read_text().splitlines()) - 1
            deadline = time.monotonic() + 30
            while len(logged(settings.meta_path)) - before < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    rows = [(r["principal"], r["action"], r["subject"], r["rows"], r["detail"]) for r in logged(settings.meta_path)[before:]]
    assert csv_rows > 0
    assert rows == [("anonymous", "view", "Freshness", None, None), ("anonymous", "download", "freshness", csv_rows, "page=Freshness")]
