"""The marts' figures recomputed straight from the SQLite source, for comparison."""

from __future__ import annotations

from decimal import Decimal

from core.settings import Settings
from publish.reader import connect_published
from tests.support.project import source_rows


def _money(value) -> Decimal:
    return Decimal(str(round(value or 0.0, 2))).quantize(Decimal("0.01"))


def source_figures(settings: Settings) -> dict:
    """Per-order, per-customer and per-day figures by SQL on the source."""
    orders = source_rows(
        settings,
        "SELECT o.id, o.customer_id, o.status, coalesce(i.total, 0), coalesce(i.lines, 0), coalesce(p.paid, 0) "
        "FROM orders o "
        "LEFT JOIN (SELECT order_id, sum(quantity * unit_price) AS total, count(*) AS lines FROM order_items GROUP BY order_id) i "
        "ON i.order_id = o.id "
        "LEFT JOIN (SELECT order_id, sum(amount) AS paid FROM payments GROUP BY order_id) p ON p.order_id = o.id "
        "WHERE o.deleted_at IS NULL",
    )
    customers = source_rows(
        settings,
        "SELECT c.id, count(o.id), sum(o.total) FROM customers c LEFT JOIN ("
        " SELECT o.id, o.customer_id, (SELECT sum(quantity * unit_price) FROM order_items i WHERE i.order_id = o.id) AS total"
        " FROM orders o WHERE o.deleted_at IS NULL AND o.status <> 'cancelled') o ON o.customer_id = c.id "
        "WHERE c.deleted_at IS NULL GROUP BY c.id",
    )
    days = source_rows(
        settings,
        "SELECT date(o.ordered_at), count(*), sum(CASE WHEN o.status = 'cancelled' THEN 0 ELSE "
        " (SELECT sum(quantity * unit_price) FROM order_items i WHERE i.order_id = o.id) END) "
        "FROM orders o WHERE o.deleted_at IS NULL GROUP BY 1",
    )
    return {
        "orders": {r[0]: (r[1], r[2], _money(r[3]), r[4], _money(r[5])) for r in orders},
        "customers": {r[0]: (r[1], _money(r[2])) for r in customers},
        "days": {r[0]: (r[1], _money(r[2])) for r in days},
    }


def published_figures(settings: Settings) -> dict:
    """The same figures read from the published marts."""
    con, _ = connect_published(settings)
    with con:
        orders = con.execute(
            "SELECT order_id, customer_id, order_status, amount_total, count_items, amount_paid FROM marts.fct_orders"
        ).fetchall()
        customers = con.execute("SELECT customer_id, count_orders, amount_lifetime_value FROM marts.dim_customers").fetchall()
        days = con.execute(
            "SELECT strftime(revenue_date, '%Y-%m-%d'), count_orders_placed, amount_revenue "
            "FROM marts.daily_revenue WHERE count_orders_placed > 0"
        ).fetchall()
    return {
        "orders": {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in orders},
        "customers": {r[0]: (r[1], r[2]) for r in customers},
        "days": {r[0]: (r[1], r[2]) for r in days},
    }


def assert_marts_match_source(settings: Settings) -> None:
    expected, actual = source_figures(settings), published_figures(settings)
    for part in ("orders", "customers", "days"):
        assert len(actual[part]) == len(expected[part]), part
        mismatched = {k: (expected[part][k], actual[part].get(k)) for k in expected[part] if actual[part].get(k) != expected[part][k]}
        assert not mismatched, f"{part}: {list(mismatched.items())[:5]}"
