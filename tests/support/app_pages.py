"""Helpers for the app's tests: independent KPI SQL, a private copy of the demo build, the app under AppTest."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.auth import hash_password
from core.settings import Settings
from tests.support.project import ROOT, settings_for

ENTRY_POINT = ROOT / "app" / "streamlit_app.py"
BUSINESS_PAGES = ["overview", "trends", "products", "customers", "explore"]
# The label of the `orders` metric on the KPI cards (metrics/definitions.yml)
ORDERS = "Orders (not cancelled)"
DOWNLOAD_LINK = re.compile(r'<a href="/download/[^"]+"[^>]*>(Download [^<]+)</a>')
OPERATOR_PAGES = ["pipeline_health", "data_quality", "freshness", "lake", "catalog", "browser", "environments"]


def independent_kpis(con, start: dt.date, end: dt.date) -> dict:
    """The KPIs by another route: revenue and order counts from daily_revenue, customers from sets of ids.

    As metrics/definitions.yml states them: orders and customers count orders not cancelled.
    """
    revenue, orders, cancelled = con.execute(
        "SELECT sum(amount_revenue)::DOUBLE, sum(count_orders_placed), sum(count_cancelled_orders) "
        "FROM marts.daily_revenue WHERE revenue_date >= ? AND revenue_date <= ?",
        (start, end),
    ).fetchone()
    in_period = {
        row[0]
        for row in con.execute(
            "SELECT DISTINCT customer_id FROM marts.fct_orders WHERE NOT is_cancelled AND order_date >= ? AND order_date <= ?", (start, end)
        ).fetchall()
    }
    ordered_before = {
        row[0]
        for row in con.execute(
            "SELECT DISTINCT customer_id FROM marts.fct_orders WHERE NOT is_cancelled AND order_date < ?", (start,)
        ).fetchall()
    }
    return {
        "Revenue": revenue,
        ORDERS: orders - cancelled,
        "Average order value": revenue / (orders - cancelled),
        "New customers": len(in_period - ordered_before),
        "Returning customers": len(in_period & ordered_before),
        "Cancellation rate": cancelled / orders,
    }


def copy_build(built_settings, target: Path, **env: str):
    """A private copy of the demo build's data folder, for tests that change it; returns its settings."""
    shutil.copytree(built_settings.data_dir, target, ignore=shutil.ignore_patterns(".writer.lock"))
    return settings_for(target, **env)


def app_on(data_dir: Path, monkeypatch, page: str | None = None, **query: str) -> AppTest:
    """The app on `data_dir`, run once (and switched to `page`), with `query` as URL parameters."""
    monkeypatch.setenv("PLATFORM__DATA_DIR", str(data_dir))
    at = AppTest.from_file(str(ENTRY_POINT), default_timeout=180)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    return at


def log_in(settings: Settings, monkeypatch, user: str, role: str) -> AppTest:
    """The app as `user`, configured with `role` and logged in through the login form."""
    monkeypatch.setenv(f"PLATFORM__APP__USERS__{user.upper()}__ROLE", role)
    monkeypatch.setenv(f"APP_PASSWORD_HASH_{user.upper()}", hash_password(f"{user}-secret"))
    monkeypatch.setenv("APP_SESSION_SECRET", "s" * 32)
    at = app_on(settings.data_dir, monkeypatch)
    at.text_input[0].input(user)
    at.text_input[1].input(f"{user}-secret")
    at.button[0].click().run().run()
    return at


def number(text: str) -> float:
    """A metric's displayed value as a number: '€1,234.50' -> 1234.5, '6.8%' -> 0.068."""
    clean = text.replace("€", "").replace(",", "").strip()
    return float(clean[:-1]) / 100 if clean.endswith("%") else float(clean)


def download_labels(at: AppTest) -> list[str]:
    """The labels of the page's CSV download links (app.components.download), in page order."""
    return [match.group(1) for element in at.get("html") if (match := DOWNLOAD_LINK.search(element.proto.body))]
