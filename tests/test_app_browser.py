"""End to end: `just app` serves the app, headless Chromium loads every page, also while a run rebuilds.

A screenshot of every page as a whole (app-<page>.png, also app-trends-week.png) and the
pages' cold render times go to data/test-artifacts/ under the project (git-ignored), where
CI keeps them; a page that fails to load leaves app-failed-load.png there.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sqlite3
import subprocess
import time

import pytest

from demo.day import advance_day
from publish.reader import connect_published
from tests.support.app_pages import copy_build
from tests.support.app_server import CHROMIUM, JUST, app_env, chromium, just_app
from tests.support.project import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "data" / "test-artifacts"
ERROR = '[data-testid="stException"]'
NOT_FOUND = "Page not found"
TABLE = '[data-testid="stDataFrame"]'
SNAKE_CASE = re.compile(r"^_?[a-z0-9]+(_[a-z0-9]+)+$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DAY_HEADERS = re.compile(r"^(Day|Week starting)$|\bdate$")
CHART = '[data-testid="stVegaLiteChart"]'
# page url path: (title, text that must show, selector of a chart that must render)
PAGES = {
    "": ("Overview", "Average order value", '[data-testid="stMetric"]'),
    "overview": ("Overview", "Average order value", '[data-testid="stMetric"]'),  # the default page by its name too
    "trends?grain=week": ("Trends", "Week starting", CHART),
    "trends": ("Trends", "Orders", CHART),
    "products": ("Products and categories", "Top products by revenue", CHART),
    "customers": ("Customers", "Cohort retention", CHART),
    "explore": ("Explore", "Cut by", CHART),
    "pipeline_health": ("Pipeline health", "Last run per job", CHART),
    "data_quality": ("Data quality", "SQLMesh audits", None),
    "freshness": ("Freshness", "marts.fct_orders", '[data-testid="stDataFrame"]'),
    "lake": ("Lake", "curated", CHART),
    "catalog": ("Catalog and lineage", "Lineage", '[data-testid="stGraphVizChart"] svg'),
    "browser": ("Data browser", "matching rows", CHART),
    "environments": ("Environments", "Published versions", '[data-testid="stDataFrame"]'),
    "access_log": ("Access log", "Reads, newest first", TABLE),
}

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def served(built, tmp_path_factory):
    """`just app` on a private copy of the demo build; yields (settings, base URL)."""
    settings = copy_build(built[0], tmp_path_factory.mktemp("browser") / "data")
    with just_app(settings, tmp_path_factory.mktemp("logs")) as base:
        yield settings, base


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def load(page, url: str, title: str, text: str, selector: str | None) -> float:
    """Open `url`, wait until the script has finished and the page shows its title, text and chart; return seconds."""
    started = time.perf_counter()
    page.goto(url)
    shown(page, title, text, selector)
    elapsed = time.perf_counter() - started
    errors = page.locator(ERROR)
    assert errors.count() == 0, f"{url}: {errors.first.inner_text()}"
    return elapsed


def settled(page) -> None:
    """Wait until the page's script has finished its run (Streamlit shows its status widget while it runs)."""
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)


def shown(page, title: str, text: str, selector: str | None) -> None:
    """Wait until the page in the window shows its title, its chart and its text, and its script has finished."""
    try:
        page.get_by_role("heading", name=title).first.wait_for(timeout=180_000)
        settled(page)
        if selector:
            page.locator(selector).first.wait_for(timeout=60_000)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app-failed-load.png"), full_page=True)
        raise
    page.get_by_text(text).first.wait_for(state="attached", timeout=30_000)  # table cells are hidden behind a canvas


def screenshot(page, name: str) -> None:
    """The whole page, not only the window: Streamlit scrolls inside its main block, so the window grows to fit it first."""
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 12_000))})
    page.wait_for_timeout(500)  # charts redraw at the new size
    page.screenshot(path=str(ARTIFACTS / f"app-{name}.png"))
    page.set_viewport_size(size)


def shown_tables(page) -> list[tuple[list[str], list[list[str]]]]:
    """Each table's headers and its rendered rows, as the grid's accessible cells read."""
    found = []
    for grid in page.locator(TABLE).all():
        headers = grid.locator('[role="columnheader"]').evaluate_all("cells => cells.map(c => c.textContent.trim())")
        rows = grid.locator('[role="row"]').evaluate_all(
            "rows => rows.map(r => Array.from(r.querySelectorAll('[role=\"gridcell\"]')).map(c => c.textContent.trim()))"
        )
        found.append((headers, [row for row in rows if row]))
    return found


def assert_tables_read_well(page, url: str) -> None:
    """No snake_case header; a day is a date without a time of day."""
    for headers, rows in shown_tables(page):
        assert not [h for h in headers if SNAKE_CASE.match(h)], f"{url}: snake_case headers {headers}"
        for i, header in enumerate(headers):
            if DAY_HEADERS.search(header):
                cells = [row[i] for row in rows if len(row) > i and row[i]]
                assert cells and all(DAY.match(cell) for cell in cells), f"{url}: {header} shows {cells[:3]}"


def test_every_page_renders_in_chromium(served, browser):
    settings, base = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    seconds = {}
    for path, (title, text, selector) in PAGES.items():
        name = path.replace("?grain=", "-") or "home"
        seconds[name] = round(load(page, f"{base}/{path}", title, text, selector), 3)  # the first, cold load
        assert page.get_by_text(NOT_FOUND).count() == 0, f"{base}/{path}: {NOT_FOUND}"
        assert_tables_read_well(page, f"{base}/{path}")
        screenshot(page, name)
    (ARTIFACTS / "app-page-seconds-cold.json").write_text(json.dumps(seconds, indent=2))
    page.goto(f"{base}/no_such_page")  # the check above would see the dialog
    page.get_by_text(NOT_FOUND).first.wait_for(timeout=60_000)
    page.close()


def test_pages_stay_up_while_just_run_rebuilds(served, browser):
    settings, base = served
    before = json.loads((settings.lake_root / "curated" / "marts" / "_manifest.json").read_text())["version"]
    advance_day(settings.source_path(settings.demo.source), seed=settings.demo.seed)
    page = browser.new_page()
    pages = ["", "trends", "customers", "pipeline_health", "freshness"]
    for path in pages:  # warm: the loop below should be limited by the rebuild, not by first imports
        load(page, f"{base}/{path}", *PAGES[path])
    rebuild = subprocess.Popen(
        [str(JUST), "run"],
        cwd=ROOT,
        env=app_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    loads = overlapping = 0
    try:
        while rebuild.poll() is None or loads < len(pages):
            overlapping += rebuild.poll() is None
            path = pages[loads % len(pages)]
            load(page, f"{base}/{path}", *PAGES[path])
            loads += 1
    finally:
        output, _ = rebuild.communicate(timeout=600)
    assert rebuild.returncode == 0, output
    assert overlapping >= 2, "the rebuild finished before the pages were queried"
    after = json.loads((settings.lake_root / "curated" / "marts" / "_manifest.json").read_text())["version"]
    assert after != before
    load(page, f"{base}/environments", "Environments", after, '[data-testid="stDataFrame"]')  # the new publish shows at once
    page.close()


SECRET = "browser-test-session-secret-0123456789"


def _login_form(page) -> bool:
    settled(page)
    return page.get_by_role("button", name="Log in").count() == 1


def test_a_login_survives_a_reload_a_new_tab_and_a_shared_link(built, browser, tmp_path_factory):
    """Logged in once, a reload and a new tab on a deep link stay in; an expired or tampered cookie asks again."""
    from app import session
    from app.auth import User, hash_password

    settings = copy_build(built[0], tmp_path_factory.mktemp("login") / "data")
    password_hash = hash_password("oleg-secret")
    env = {"PLATFORM__APP__USERS__OLEG__ROLE": "operator", "APP_PASSWORD_HASH_OLEG": password_hash, "APP_SESSION_SECRET": SECRET}
    with just_app(settings, tmp_path_factory.mktemp("login-logs"), **env) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{base}/trends?grain=week")
        page.get_by_role("button", name="Log in").wait_for(timeout=180_000)
        page.get_by_role("textbox", name="User").fill("oleg")
        page.get_by_role("textbox", name="Password").fill("oleg-secret")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Trends").first.wait_for(timeout=180_000)  # the page asked for, not Overview
        assert page.url == f"{base}/trends?grain=week"
        cookie = next(c for c in context.cookies() if c["name"] == session.COOKIE)
        assert 11 * 3600 < cookie["expires"] - time.time() <= 12 * 3600

        page.reload()
        page.get_by_role("heading", name="Trends").first.wait_for(timeout=180_000)
        assert not _login_form(page)
        shared = context.new_page()
        load(shared, f"{base}/freshness", *PAGES["freshness"])
        assert not _login_form(shared) and shared.url == f"{base}/freshness"

        oleg = User("oleg", "operator", password_hash)
        expired = session.issue(oleg, SECRET.encode(), now=time.time() - 13 * 3600)
        name, expires, signature = session.issue(oleg, SECRET.encode()).split(".")
        for value in (expired, f"{name}.{int(expires) + 86400}.{signature}", f"anna.{expires}.{signature}"):
            stranger = browser.new_context()
            stranger.add_cookies([{"name": session.COOKIE, "value": value, "url": base}])
            tab = stranger.new_page()
            tab.goto(f"{base}/freshness")
            tab.get_by_role("button", name="Log in").wait_for(timeout=180_000)
            assert tab.get_by_role("heading", name="Freshness").count() == 0
            stranger.close()

        shared.get_by_role("button", name="Log out").click()
        shared.get_by_role("button", name="Log in").wait_for(timeout=60_000)
        assert session.COOKIE not in {c["name"] for c in context.cookies()}
        context.close()


def test_the_data_browser_filters_sorts_and_downloads_a_mart_in_chromium(served, browser):
    """A shared link opens a mart filtered and sorted; the download holds exactly the matching rows, and is logged."""
    settings, base = served
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        low = con.execute("SELECT quantile_disc(amount_total, 0.8) FROM marts.fct_orders").fetchone()[0]
        expected = con.execute(
            "SELECT order_id, amount_total FROM marts.fct_orders WHERE order_status = 'delivered' AND amount_total >= ? "
            "ORDER BY amount_total DESC, order_id",
            (low,),
        ).fetchall()
        products = con.execute("SELECT count(*) FROM marts.dim_products").fetchone()[0]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    url = f"{base}/browser?table=fct_orders&f_order_status=eq:delivered&f_amount_total=range:{low}~&sort=amount_total&desc=1"
    load(page, url, "Data browser", f"{len(expected):,} matching rows", CHART)
    # the sample's grid may come a moment after the count and the chart
    page.locator(TABLE).locator('[role="columnheader"]', has_text="Order ID").first.wait_for(state="attached", timeout=60_000)
    assert_tables_read_well(page, url)
    (_, rows), *_ = [(headers, rows) for headers, rows in shown_tables(page) if "Order ID" in headers]
    screenshot(page, "browser-fct-orders")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name="Download fct orders (CSV)").click()
    with open(download.value.path(), newline="") as handle:
        downloaded = list(csv.DictReader(handle))
    assert [(int(r["order_id"]), float(r["amount_total"])) for r in downloaded] == [(i, float(a)) for i, a in expected]
    assert rows and all(row for row in rows)

    # another mart, picked in the page: the URL follows and the first mart's filters leave it
    _pick(page, "Mart", "dim_products")
    page.get_by_text(f"{products:,} matching rows").first.wait_for(timeout=60_000)
    assert "table=dim_products" in page.url and "f_order_status" not in page.url
    page.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        downloads = [r for r in _app_reads(settings) if r[1] == "download"]
        if downloads:
            break
        time.sleep(0.2)
    assert downloads == [("anonymous", "download", "fct_orders", len(expected), "page=Data browser")]


def _pick(page, label: str, option: str) -> None:
    """Choose `option` in the select box labelled `label` once the page has settled, and wait until the box shows it.
    A rerun that replaces the box can close its list before the option is clicked, or lose the choice: the box is
    opened and the option chosen again, up to three times, and a screenshot kept if it never shows."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    for attempt in range(3):
        settled(page)
        try:
            box.click()
            page.get_by_role("option", name=option, exact=True).click(timeout=15_000)
            box.filter(has_text=option).wait_for(timeout=20_000)
            return
        except Exception:
            page.keyboard.press("Escape")  # a list still open would close at the next click on the box
            if attempt == 2:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"app-failed-pick-{option}.png"), full_page=True)
                raise


def _app_reads(settings) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.meta_path)) as con:
        return con.execute(
            "SELECT principal, action, subject, rows, detail FROM access_log WHERE channel = 'app' ORDER BY rowid"
        ).fetchall()


def _download(page, link: str) -> list[dict]:
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name=link).click()
    with open(download.value.path(), newline="") as handle:
        return list(csv.DictReader(handle))


def _metric_values_fit(page) -> list[str]:
    """The card values drawn cut off (wider than their box)."""
    return page.locator('[data-testid="stMetricValue"]').evaluate_all(
        "cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent)"
    )


def test_what_a_reader_sees_periods_back_button_labels_and_units(served, browser):
    """Partial months marked in the table and CSV, bad links named, Back leaves pages, words for codes, one size unit, no CDN."""
    settings, base = served
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        first, last = con.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchone()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith((base, "data:")) else None)

    # Back leaves Trends and Explore: loading a page adds no history entry of its own
    load(page, f"{base}/lake", *PAGES["lake"])
    for path in ("trends", "explore"):
        load(page, f"{base}/{path}", *PAGES[path])
        page.wait_for_timeout(1_000)  # any URL write the page makes has reached the browser
    page.go_back()
    page.get_by_role("heading", name="Trends").first.wait_for(timeout=60_000)
    assert page.url.split("?")[0] == f"{base}/trends"
    page.go_back()
    shown(page, *PAGES["lake"])  # the heading comes before the cards, the chart and the table
    assert page.url == f"{base}/lake"
    assert page.evaluate("document.querySelector(\"link[rel='shortcut icon']\").href").startswith("data:")

    # Lake: one size unit, MiB, on the cards, the chart and the table
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "MiB" in text and "bytes" not in text.lower() and "KB" not in text
    page.locator(TABLE).locator('[role="columnheader"]', has_text="Size (MiB)").first.wait_for(state="attached", timeout=60_000)

    # Trends by month over days that end inside a month: the table and the CSV say which days the last month covers
    end = last.replace(day=min(last.day, 27))  # never a month's last day
    url = f"{base}/trends?grain=month&start={first.replace(day=1)}&end={end}"
    load(page, url, "Trends", "Partial period", CHART)
    page.locator(TABLE).locator('[role="gridcell"]', has_text=f"to {end}").first.wait_for(state="attached", timeout=60_000)
    (headers, rows), *_ = shown_tables(page)
    cut = [row for row in rows if row[headers.index("Partial period")]]
    assert [row[headers.index("Partial period")] for row in cut] == [f"{end.replace(day=1)} to {end}"]
    downloaded = _download(page, "Download trends by month (CSV)")
    assert list(downloaded[0])[:3] == ["Month", "Partial period", "Revenue (EUR)"]
    assert [r["Partial period"] for r in downloaded] == [""] * (len(downloaded) - 1) + [f"{end.replace(day=1)} to {end}"]
    assert all(re.fullmatch(r"\d+(\.\d{1,2})?", r["Revenue (EUR)"]) for r in downloaded), downloaded[:2]

    # Links with impossible dates are named, not clamped in silence
    load(page, f"{base}/trends?start=2025-02-30&end=2025-03-01", "Trends", "start=2025-02-30", CHART)
    assert "is not a date" in page.locator('[data-testid="stAlert"]').first.inner_text()
    load(page, f"{base}/overview?start={last}&end={first}", "Overview", "starts after it ends", '[data-testid="stMetric"]')

    # Explore: four cards in rows of three, none cut off; payment methods in words
    load(page, f"{base}/explore?metrics=revenue,orders,average_order_value,cancellation_rate&compare=1", "Explore", "Cut by", CHART)
    page.locator('[data-testid="stMetricValue"]').nth(3).wait_for(timeout=60_000)
    assert _metric_values_fit(page) == []
    load(page, f"{base}/overview?start={first}&end={last}", "Overview", "How customers paid", CHART)
    page.locator(TABLE).nth(1).locator('[role="gridcell"]', has_text="Bank transfer").first.wait_for(state="attached", timeout=60_000)
    cells = [cell for _, rows in shown_tables(page) for row in rows for cell in row]
    assert "Bank transfer" in cells and "bank_transfer" not in cells

    # Operator pages: a missing number reads as a dash, and a monitor that never ran says so
    load(page, f"{base}/pipeline_health", *PAGES["pipeline_health"])
    page.locator(TABLE).first.locator('[role="gridcell"]', has_text="Success").first.wait_for(state="attached", timeout=60_000)
    cells = [cell for _, rows in shown_tables(page) for row in rows for cell in row]
    assert cells and "None" not in cells
    load(page, f"{base}/data_quality", *PAGES["data_quality"])
    assert "The monitor has not run yet" in page.locator('[data-testid="stMain"]').inner_text()
    assert "No anomalies flagged" not in page.locator('[data-testid="stMain"]').inner_text()
    page.close()
    assert not outside, f"the app requested {sorted(set(outside))}"
