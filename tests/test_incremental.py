"""After a simulated day, only the touched time range is restated, history is kept, and audits are logged."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3

import duckdb
import pytest

from core import warehouse
from core.errors import PlatformError
from core.run_context import open_run
from demo.day import advance_day
from demo.shop import CATEGORIES
from ingest.pipeline import ingest_source
from pipeline.run import run_all
from tests.support.project import delete_order_at_source, settings_for, source_rows
from transform.audit_log import audit_rows
from transform.build import build_prod
from transform.context import open_context
from transform.raw_views import create_raw_views
from transform.restatement import RawLoads, comparison_sql, raw_loads, staging_scopes
from transform.state import applied_loads

pytestmark = pytest.mark.slow


def test_a_demo_day_restates_from_the_earliest_touched_order_day(built_copy):
    settings = built_copy
    high_water = source_rows(
        settings,
        "SELECT max(updated_at) FROM (SELECT updated_at FROM orders UNION ALL SELECT updated_at FROM payments "
        "UNION ALL SELECT updated_at FROM order_items)",
    )[0][0]
    customers_before = source_rows(settings, "SELECT max(updated_at) FROM customers")[0][0]
    report = advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    (expected_start,) = source_rows(
        settings,
        "SELECT min(date(ordered_at)) FROM orders WHERE updated_at > ?1 "
        "OR id IN (SELECT order_id FROM order_items WHERE updated_at > ?1) "
        "OR id IN (SELECT order_id FROM payments WHERE updated_at > ?1)",
        (high_water,),
    )[0]
    ingest_source(open_run(settings), "shop")

    result = build_prod(open_run(settings))

    assert result.restatement.start == dt.datetime.fromisoformat(expected_start)
    assert result.restatement.start.date() < dt.date.fromisoformat(report.day)  # status changes reach back
    assert result.restatement.changed_rows["staging.stg_shop__orders"] >= report.new_orders + report.status_changes
    assert "staging.stg_shop__products" in result.restatement.models  # price changes
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path), read_only=True)) as con:
        closed = con.execute("SELECT count(*) FROM staging.stg_shop__customers_history WHERE valid_to IS NOT NULL").fetchone()[0]
        history_keys = con.execute("SELECT count(DISTINCT customer_id) FROM staging.stg_shop__customers_history").fetchone()[0]
        price_versions = con.execute("SELECT count(*) - count(DISTINCT product_id) FROM staging.stg_shop__products_history").fetchone()[0]
    changed_customers = source_rows(
        settings, "SELECT count(*) FROM customers WHERE updated_at > ? AND created_at <= ?", (customers_before, customers_before)
    )[0][0]
    assert closed == changed_customers > 0  # one closed version per customer updated or deleted that day
    assert history_keys == source_rows(settings, "SELECT count(*) FROM customers")[0][0]
    assert price_versions == report.price_changes
    # The restated months, built alone, match a build from scratch.
    assert _rows_differing(settings, _CUSTOMER_MONTHS_BUILT, _CUSTOMER_MONTHS_FROM_SCRATCH) == 0
    assert _rows_differing(settings, _PAYMENT_MIX_BUILT, _PAYMENT_MIX_FROM_SCRATCH) == 0
    assert _rows_differing(settings, _COHORTS_BUILT, _COHORTS_FROM_SCRATCH) == 0
    outcomes = audit_rows(settings.meta_path, "prod")
    assert outcomes and all(row["status"] == "passed" for row in outcomes)
    assert {row["model"] for row in outcomes} >= {"marts.fct_orders", "staging.stg_shop__orders"}
    assert any(not row["blocking"] and row["audit"].startswith("assert_fresh(") for row in outcomes)


# The monthly incremental models, and the same rows as a full build computes them, from every row at once.
_CUSTOMER_MONTHS_BUILT = (
    "SELECT customer_id, order_month, cohort_month, count_orders, amount_revenue FROM intermediate.int_customer_months_active"
)
_CUSTOMER_MONTHS_FROM_SCRATCH = """
    WITH months AS (
      SELECT customer_id, date_trunc('month', ordered_at)::DATE AS order_month, count(*) AS count_orders,
        sum(amount_total)::DECIMAL(14, 2) AS amount_revenue
      FROM intermediate.int_orders_totalled WHERE order_status <> 'cancelled' GROUP BY ALL
    )
    SELECT customer_id, order_month, min(order_month) OVER (PARTITION BY customer_id) AS cohort_month, count_orders, amount_revenue
    FROM months
"""
_PAYMENT_MIX_BUILT = "SELECT paid_month, payment_method, count_payments, amount_paid FROM marts.payment_method_mix"
_PAYMENT_MIX_FROM_SCRATCH = """
    SELECT date_trunc('month', paid_date)::DATE AS paid_month, payment_method, count(*) AS count_payments,
      sum(amount_paid)::DECIMAL(14, 2) AS amount_paid
    FROM marts.fct_payments GROUP BY ALL
"""
_COHORTS_BUILT = (
    "SELECT cohort_month, months_since_first_order, count_cohort_customers, count_active_customers, amount_revenue,"
    " amount_lifetime_value_per_customer FROM marts.customer_cohorts"
)
_COHORTS_FROM_SCRATCH = """
    WITH sizes AS (
      SELECT cohort_month, count(DISTINCT customer_id) AS customers FROM intermediate.int_customer_months_active GROUP BY ALL
    ),
    months AS (
      SELECT cohort_month, months_since_first_order, count(DISTINCT customer_id) AS active, sum(amount_revenue) AS revenue
      FROM intermediate.int_customer_months_active GROUP BY ALL
    )
    SELECT cohort_month, months_since_first_order, sizes.customers, months.active, months.revenue::DECIMAL(14, 2),
      (sum(months.revenue) OVER (PARTITION BY cohort_month ORDER BY months_since_first_order) / sizes.customers)::DECIMAL(14, 2)
    FROM months JOIN sizes USING (cohort_month)
"""


def _rows_differing(settings, built: str, from_scratch: str) -> int:
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path), read_only=True)) as con:
        (count,) = con.execute(
            f"SELECT count(*) FROM (({built}) EXCEPT ALL ({from_scratch}) UNION ALL (({from_scratch}) EXCEPT ALL ({built})))"
        ).fetchone()
    return count


def test_the_day_comparison_reads_new_loads_only_and_finds_what_comparing_everything_finds(built_copy):
    settings = built_copy
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path), read_only=True)) as con:
        applied = RawLoads(frozenset(applied_loads(con)))
    assert applied == raw_loads(open_run(settings)) and {name.split("/")[0] for name in applied.names} == {"shop"}
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)
    gone = delete_order_at_source(settings, "min")  # a hard delete: its key is in no new load's rows
    ingest_source(open_run(settings), "shop")
    new_loads = raw_loads(open_run(settings)).new_since(applied)
    assert len(new_loads["shop"]) == 1  # the day's one load, found by name, not by comparing clock-made ids

    context = open_context(settings)
    try:
        scopes = staging_scopes(context.models.values(), settings)
    finally:
        context.close()
    found = {}
    with contextlib.closing(warehouse.connect(settings.warehouse_path)) as con:
        create_raw_views(con, open_run(settings))
        for scope in scopes:
            whole = con.execute(comparison_sql(scope, {})).fetchone()
            narrowed = con.execute(comparison_sql(scope, new_loads)).fetchone()
            assert narrowed == whole, scope.model
            found[scope.model] = whole[0]
        (flagged,) = con.execute(f"SELECT count(*) FROM raw_shop.orders WHERE id = {gone} AND _deleted").fetchone()
    assert flagged >= 1
    assert found["staging.stg_shop__orders"] > 0 and found["staging.stg_shop__order_items"] > 0 and found["staging.stg_shop__customers"] > 0


def test_a_failing_audit_is_recorded_with_its_model(tmp_path):
    # the ingestion contract would stop this row first; switch it off to reach the SQLMesh audit
    settings = settings_for(tmp_path / "data", PLATFORM__SOURCES__SHOP__QUALITY__ENABLED="false")
    run_all(settings)
    with sqlite3.connect(settings.source_path("shop")) as con:
        con.execute("UPDATE payments SET amount = -5, updated_at = '2099-01-01 00:00:00' WHERE id = 1")
    with pytest.raises(PlatformError, match="stg_shop__payments"):
        run_all(settings)
    failed = [row for row in audit_rows(settings.meta_path) if row["status"] == "failed"]
    assert [(row["model"], row["audit"], row["blocking"], row["failed_rows"]) for row in failed] == [
        ("staging.stg_shop__payments", "accepted_range(column := amount_paid, min_v := 0)", 1, 1)
    ]


def test_a_category_change_moves_the_days_after_it_and_keeps_the_days_before(built_copy):
    settings = built_copy
    (products_high_water, last_day) = source_rows(
        settings, "SELECT (SELECT max(updated_at) FROM products), (SELECT max(date(ordered_at)) FROM orders)"
    )[0]
    # The change is stamped three days before the last orders, after the products' last load: it arrives late,
    # after days that were built with the old category.
    changed_at = max(f"{dt.date.fromisoformat(last_day) - dt.timedelta(days=3)} 12:00:00", products_high_water)
    (product, old_category) = source_rows(
        settings,
        "SELECT p.id, p.category FROM products p JOIN order_items i ON i.product_id = p.id GROUP BY p.id, p.category "
        "ORDER BY count(*) DESC, p.id LIMIT 1",
    )[0]
    new_category = next(category for category in CATEGORIES if category != old_category)
    with sqlite3.connect(settings.source_path("shop")) as src:
        src.execute("UPDATE products SET category = ?, updated_at = ? WHERE id = ?", (new_category, changed_at, product))
    ingest_source(open_run(settings), "shop")

    result = build_prod(open_run(settings))

    change_day = dt.date.fromisoformat(changed_at[:10])
    assert result.restatement.start.date() <= change_day  # the days built before the change arrived are restated
    with contextlib.closing(duckdb.connect(str(settings.warehouse_path), read_only=True)) as con:
        days = dict(
            con.execute("SELECT order_date, product_category FROM marts.product_daily_sales WHERE product_id = ?", [product]).fetchall()
        )
        (current,) = con.execute("SELECT product_category FROM marts.dim_products WHERE product_id = ?", [product]).fetchone()
        per_category = dict(con.execute("SELECT product_category, amount_revenue FROM marts.category_performance").fetchall())
        (total,) = con.execute("SELECT sum(amount_revenue) FROM marts.product_daily_sales").fetchone()
    # the day of the change began under the old category; every later day is under the new one
    assert {category for day, category in days.items() if day <= change_day} == {old_category}
    assert {category for day, category in days.items() if day > change_day} == {new_category}
    assert current == new_category
    assert per_category[new_category] > 0 and per_category[old_category] > 0
    assert sum(per_category.values()) == total
