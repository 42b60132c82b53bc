"""The Evidence reports as Node builds them: the lockfile installs, a stalled step is bounded, the built site works offline."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.queries import business
from app.reports import site
from app.reports.queries import PROJECT
from core.errors import PlatformError
from metrics import display
from publish.reader import connect_published
from tests.support.project import source_rows

CHROMIUM = Path("/usr/bin/chromium")
LIVE_ORDERS = """
    SELECT o.id, o.customer_id, o.status,
           (SELECT sum(quantity * unit_price) FROM order_items i WHERE i.order_id = o.id) AS total
    FROM orders o WHERE o.deleted_at IS NULL
"""


def test_versions_are_pinned_exactly_and_the_wasm_engine_has_parquet_built_in():
    package = json.loads((PROJECT / "package.json").read_text())
    lock = json.loads((PROJECT / "package-lock.json").read_text())
    ranges = {name: spec for name, spec in package["dependencies"].items() if not spec[0].isdigit()}
    assert not ranges, f"pin exact versions: {ranges}"
    packages = lock["packages"]
    for name, spec in package["dependencies"].items():
        assert packages[f"node_modules/{name}"]["version"] == spec
    # DuckDB-Wasm 1.28 (DuckDB 0.9) links Parquet in; later versions download it at run time.
    assert packages["node_modules/@duckdb/duckdb-wasm"]["version"] == "1.28.0"
    assert packages["node_modules/@evidence-dev/evidence"]["version"] == "39.1.13"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_the_lockfile_installs_with_npm_ci(tmp_path):
    for name in ("package.json", "package-lock.json", ".npmrc"):
        shutil.copy(PROJECT / name, tmp_path / name)
    done = subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--dry-run", "--no-audit", "--no-fund"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "added" in done.stdout, done.stdout[-2000:]


def test_a_stalled_step_is_stopped_with_its_children_and_named(settings):
    marker = settings.data_dir / "grandchild.pid"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A step whose own child also hangs, the way npm and Evidence start children.
    script = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(120)"
    )
    started = time.monotonic()
    with pytest.raises(PlatformError) as caught:
        site._run(settings, [sys.executable, "-c", script], step="evidence sources", timeout=3)
    assert time.monotonic() - started < 60
    message = str(caught.value)
    assert "`evidence sources` did not finish within 3 s and was stopped" in message
    assert "extensions.duckdb.org" in message
    assert "PLATFORM__REPORTS__SOURCES_TIMEOUT_SECONDS" in message
    grandchild = int(marker.read_text())
    for _ in range(50):
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    assert not _alive(grandchild), "the step's child process outlived the time limit"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_evidence_reads_the_configured_snapshot(settings):
    env = site.evidence_env(settings)
    for source in site.SOURCES:
        relative = env[f"EVIDENCE_SOURCE__{source}__filename"]
        assert (PROJECT / "sources" / source / relative).resolve() == (settings.data_dir / settings.reports.snapshot).resolve()
    assert env["SEND_ANONYMOUS_USAGE_STATS"] == "no"


@pytest.fixture(scope="module")
def built_site(built):
    """The reports built by `just reports`'s code on the demo data, served on loopback."""
    if not (PROJECT / "node_modules" / ".bin" / "evidence").exists():
        pytest.skip("app/reports/node_modules is not installed (.ci/run runs npm ci)")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    settings, _ = built
    result = site.build_site(settings, say=lambda message: None)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(result.site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings, result, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def _open(browser, url: str):
    """A page that records every request that would leave the machine (and stops it)."""
    context = browser.new_context()
    outside: list[str] = []

    def route(request_route):
        if request_route.request.url.startswith("http://127.0.0.1:"):
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    return context, page, outside


# A big number shows its title and its value together: the title's parent holds both.
BIG_VALUE_SHOWS = """([title, expected]) => [...document.querySelectorAll('article *')].some(
    e => e.children.length === 0 && e.textContent.trim() === title && e.parentElement.innerText.includes(expected))"""


def _wait_for_big_value(page, title: str, expected: str) -> None:
    page.wait_for_function(BIG_VALUE_SHOWS, arg=[title, expected], timeout=60_000)


def _pick(page, dropdown: str, option: str) -> None:
    """Choose an option the way a user does with a long list: open the dropdown, type, click.

    Evidence lists more than five options in a virtual list that renders only the rows in
    view, so typing narrows the list to the option before it is clicked.
    """
    search = page.get_by_placeholder(dropdown)
    deadline = time.monotonic() + 60
    # A click that lands while the page is still re-rendering the dropdown opens nothing: click again.
    while not search.is_visible():
        assert time.monotonic() < deadline, f"the {dropdown} dropdown did not open within 60 s"
        page.get_by_role("combobox", name=dropdown).click()
        try:
            search.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeout:
            pass
    search.fill(option)
    page.get_by_role("option", name=option, exact=True).click(timeout=60_000)


def _wait_for_text(page, expected: list[str]) -> str:
    """The article's text once it holds every expected string: tables fill in after their queries run."""
    try:
        page.wait_for_function(
            "expected => { const t = document.querySelector('article')?.innerText ?? ''; return expected.every(e => t.includes(e)); }",
            arg=expected,
            timeout=60_000,
        )
    except PlaywrightTimeout:
        pass  # the assertions below name what is missing
    return page.locator("article").inner_text()


@pytest.mark.slow
def test_built_site_shows_the_published_numbers_offline(built_site, browser):
    settings, result, url = built_site
    ((revenue, orders),) = source_rows(settings, f"SELECT round(sum(total)), count(*) FROM ({LIVE_ORDERS}) WHERE status != 'cancelled'")
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        first, last = business.order_date_range(con)
        app = {k.metric: k for k in business.kpis(con, business.Period(first, last))}
    context, page, outside = _open(browser, url + "/")
    try:
        _wait_for_big_value(page, "Revenue, all time", f"€{int(revenue):,}")
        _wait_for_big_value(page, "Orders (not cancelled), all time", f"{orders:,}")
        # The same KPIs as the app shows them over the same days: one definition, one number.
        for name, title in (
            ("revenue", "Revenue, all time"),
            ("orders", "Orders (not cancelled), all time"),
            ("average_order_value", "Average order value, all time"),
            ("cancellation_rate", "Cancellation rate, all time"),
        ):
            kpi = app[name]
            shown = f"€{kpi.value:,.0f}" if name == "revenue" else display.format_value(kpi.unit, kpi.value)
            _wait_for_big_value(page, title, shown)
        assert result.snapshot.version in _wait_for_text(page, [result.snapshot.version])
        assert f"Every order published, from {first} to {last}." in " ".join(_wait_for_text(page, [str(last)]).split())
    finally:
        context.close()
    assert not outside, f"the site requested {outside}"


@pytest.mark.slow
def test_sales_filter_runs_in_the_browser_database(built_site, browser):
    settings, result, url = built_site
    city = "Berlin"
    ((city_orders,),) = source_rows(
        settings,
        f"SELECT count(*) FROM ({LIVE_ORDERS}) o JOIN customers c ON c.id = o.customer_id AND c.deleted_at IS NULL WHERE c.city = ?",
        (city,),
    )
    context, page, outside = _open(browser, url + "/sales")
    try:
        _wait_for_big_value(page, "Orders placed (incl. cancelled)", f"{result.snapshot.marts['fct_orders']:,}")
        _pick(page, "City", city)
        page.keyboard.press("Escape")
        # The filtered query runs in the browser's DuckDB-Wasm, on the Parquet the build wrote.
        _wait_for_big_value(page, "Orders placed (incl. cancelled)", f"{city_orders:,}")
    finally:
        context.close()
    assert not outside, f"the site requested {outside}"


@pytest.mark.slow
def test_data_quality_page_says_what_is_not_reported_yet(built_site, browser):
    settings, result, url = built_site
    context, page, outside = _open(browser, url + "/data-quality")
    try:
        with contextlib.closing(duckdb.connect(str(result.snapshot.path), read_only=True)) as con:
            (quarantining,) = con.execute("SELECT count(*) FROM quality.contract_results WHERE rows_quarantined > 0").fetchone()
        good_news = [] if quarantining else ["No load had rows quarantined."]
        text = _wait_for_text(page, ["Not reported yet", "ingest:shop", *good_news, *result.snapshot.missing])
        assert "Not reported yet" in text and "Dataset is empty" not in text
        assert all(line in text for line in good_news)
        for table in result.snapshot.missing:
            assert table in text
        assert "ingest:shop" in text
    finally:
        context.close()
    assert not outside, f"the site requested {outside}"
