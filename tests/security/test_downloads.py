"""App downloads go through the app's server: to the logged-in user they were offered to, made when asked, logged.

Streamlit's own download button puts the file in its media store, whose URL answers anyone who
has it, with no cookie and no log line. The app's links do not.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sqlite3
import urllib.error
import urllib.request

import pytest

from app.auth import hash_password
from publish.reader import connect_published
from tests.support.app_pages import copy_build
from tests.support.app_server import CHROMIUM, chromium, just_app, log_in

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]

SECRET = "s" * 40
LINK = "Download {} (CSV)"


def _bare(url: str) -> tuple[int, str]:
    """A request with no cookie: status and body."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _link(page, name: str) -> str:
    link = page.get_by_role("link", name=LINK.format(name))
    link.wait_for(timeout=180_000)
    return str(link.get_attribute("href"))


def _downloads(settings) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con:
        return con.execute(
            "SELECT principal, subject, rows, detail FROM access_log WHERE channel = 'app' AND action = 'download' ORDER BY rowid"
        ).fetchall()


def test_a_download_answers_only_its_logged_in_user_unmasked_only_for_operators_and_is_logged(built, tmp_path_factory):
    settings = copy_build(built[0], tmp_path_factory.mktemp("downloads") / "data")
    with contextlib.closing(connect_published(settings, role="operator")[0]) as con:
        customers = con.execute("SELECT customer_id, customer_name, customer_email FROM marts.dim_customers ORDER BY 1").fetchall()
    emails = {email for _, _, email in customers}
    env = {
        "PLATFORM__APP__USERS__OLEG__ROLE": "operator",
        "PLATFORM__APP__USERS__ANNA__ROLE": "business",
        "APP_PASSWORD_HASH_OLEG": hash_password("oleg-secret"),
        "APP_PASSWORD_HASH_ANNA": hash_password("anna-secret"),
        "APP_SESSION_SECRET": SECRET,
    }
    with just_app(settings, tmp_path_factory.mktemp("downloads-logs"), **env) as base, chromium() as browser:
        oleg = browser.new_context()
        page = oleg.new_page()
        log_in(page, base, "/browser?table=dim_customers", "oleg", "oleg-secret")
        href = _link(page, "dim customers")
        assert not re.search(r"/media/[^\"'\s]*\.csv", page.content())  # nothing of the data left in Streamlit's media store

        status, body = _bare(base + href)  # no cookie: nothing
        assert status == 403 and not any(email in body for email in emails) and "Customer" not in body
        assert _downloads(settings) == []

        response = oleg.request.get(base + href)  # the operator, with his cookie: the rows, unmasked, made now
        assert response.status == 200 and response.headers["content-disposition"] == 'attachment; filename="dim_customers.csv"'
        rows = list(csv.DictReader(io.StringIO(response.text())))
        assert [(int(r["customer_id"]), r["customer_name"], r["customer_email"]) for r in rows] == customers

        anna = browser.new_context()
        business = anna.new_page()
        log_in(business, base, "/customers", "anna", "anna-secret")
        assert anna.request.get(base + href).status == 403  # another user's link, even logged in
        own = anna.request.get(base + _link(business, "lifetime value distribution"))
        assert own.status == 200 and own.text().count("\n") > 1
        assert not any(email in own.text() for email in emails) and "Customer " not in own.text()

        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
        assert _bare(base + href)[0] == 403
        assert oleg.request.get(base + href).status == 403  # the link died with the session
        oleg.close()
        anna.close()

    logged = _downloads(settings)
    assert logged[0] == ("oleg", "dim_customers", len(customers), "page=Data browser")
    assert [entry[:2] for entry in logged] == [("oleg", "dim_customers"), ("anna", "lifetime_value_distribution")]
