"""The demo source: deterministic from its seed, and a simulated day changes it realistically."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3

import pytest

from demo.day import advance_day
from demo.shop import generate
from tests.support.project import settings_for

TABLES = ("customers", "products", "orders", "order_items", "payments")


def _digest(path) -> str:
    digest = hashlib.sha256()
    with sqlite3.connect(path) as con:
        for table in TABLES:
            for row in con.execute(f"SELECT * FROM {table} ORDER BY id"):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def _generate(path, seed=42, scale=0.02):
    settings = settings_for(path.parent)
    return generate(path, seed=seed, scale=scale, start_date=settings.demo.start_date, history_days=settings.demo.history_days)


def test_generation_is_deterministic(tmp_path):
    first, second, other = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    assert _generate(first) == _generate(second)
    assert _digest(first) == _digest(second)
    _generate(other, seed=7)
    assert _digest(first) != _digest(other)


def test_scale_sets_the_order_count(tmp_path):
    counts = _generate(tmp_path / "shop.db", scale=0.05)
    assert counts["orders"] == 5_000
    assert counts["customers"] == 500
    assert 1 * 5_000 <= counts["order_items"] <= 5 * 5_000


def test_generated_data_is_consistent(tmp_path):
    path = tmp_path / "shop.db"
    _generate(path)
    with sqlite3.connect(path) as con:
        # payments exist exactly for the orders that were paid
        unpaid_with_payment = con.execute(
            "SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.status IN ('placed', 'cancelled')"
        ).fetchone()[0]
        paid_without_payment = con.execute(
            "SELECT count(*) FROM orders o WHERE o.status IN ('paid', 'shipped', 'delivered') "
            "AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)"
        ).fetchone()[0]
        amounts_off = con.execute(
            "SELECT count(*) FROM payments p JOIN (SELECT order_id, round(sum(quantity * unit_price), 2) AS total "
            "FROM order_items GROUP BY order_id) t USING (order_id) WHERE abs(p.amount - t.total) > 0.001"
        ).fetchone()[0]
        orders_before_customer = con.execute(
            "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at < c.created_at"
        ).fetchone()[0]
        statuses = {row[0] for row in con.execute("SELECT DISTINCT status FROM orders")}
    assert (unpaid_with_payment, paid_without_payment, amounts_off, orders_before_customer) == (0, 0, 0, 0)
    assert {"placed", "paid", "shipped", "delivered", "cancelled"} <= statuses


def test_demo_day_adds_changes_after_every_earlier_timestamp(tmp_path):
    path = tmp_path / "shop.db"
    _generate(path)
    with sqlite3.connect(path) as con:
        before = {t: con.execute(f"SELECT count(*), max(updated_at) FROM {t}").fetchone() for t in TABLES}
    report = advance_day(path, seed=42)
    assert report.new_orders > 0 and report.status_changes > 0 and report.customer_updates > 0
    assert report.soft_deleted_customers + report.soft_deleted_orders > 0
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == before["orders"][0] + report.new_orders
        changed_orders = con.execute("SELECT count(*) FROM orders WHERE updated_at > ?", (before["orders"][1],)).fetchone()[0]
        # a voided order may be one placed the same day, so it is counted once or twice
        touched = report.new_orders + report.status_changes
        assert touched <= changed_orders <= touched + report.soft_deleted_orders
        deleted = con.execute("SELECT count(*) FROM customers WHERE deleted_at IS NOT NULL").fetchone()[0]
        assert deleted == report.soft_deleted_customers
        today = con.execute("SELECT today FROM demo_clock").fetchone()[0]
    assert dt.date.fromisoformat(today) == dt.date.fromisoformat(report.day) + dt.timedelta(days=1)


@pytest.mark.parametrize("history_days", [60, 180])
def test_demo_day_adds_the_sources_own_daily_rate_of_orders(tmp_path, history_days):
    path = tmp_path / "shop.db"
    settings = settings_for(tmp_path)
    generate(path, seed=42, scale=0.5, start_date=settings.demo.start_date, history_days=history_days)
    with sqlite3.connect(path) as con:
        (orders,) = con.execute("SELECT count(*) FROM orders").fetchone()
    report = advance_day(path, seed=42)
    rate = orders / history_days
    assert 0.75 * rate <= report.new_orders <= 1.25 * rate  # a day draws 80-120% of the rate


def test_demo_day_is_deterministic(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _generate(a)
    _generate(b)
    assert advance_day(a, seed=42) == advance_day(b, seed=42)
    assert _digest(a) == _digest(b)
