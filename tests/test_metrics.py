"""The semantic layer: every definition compiles on the published marts, and every metric equals SQL on the source."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys

import pytest

from core.errors import PlatformError
from demo.day import advance_day
from metrics import display, layer
from metrics.layer import DEFINITIONS
from pipeline.run import run_all
from publish.reader import connect_published
from tests.support.app_pages import copy_build
from tests.support.project import ROOT, SMALL_SCALE, source_rows

# Independent SQL over the SQLite source, per order: live orders with their total, customer city
# and whether the order is its customer's first one not cancelled.
SOURCE_ORDERS = """
WITH totals AS (SELECT order_id, sum(quantity * unit_price) AS total FROM order_items GROUP BY order_id),
live AS (
  SELECT o.id, o.customer_id, o.status = 'cancelled' AS cancelled, date(o.ordered_at) AS day, o.ordered_at,
    coalesce(t.total, 0) AS total, c.city
  FROM orders o LEFT JOIN totals t ON t.order_id = o.id
  LEFT JOIN customers c ON c.id = o.customer_id AND c.deleted_at IS NULL
  WHERE o.deleted_at IS NULL
),
firsts AS (SELECT customer_id, min(day) AS first_day FROM live WHERE NOT cancelled GROUP BY customer_id)
SELECT live.*, f.first_day FROM live LEFT JOIN firsts f ON f.customer_id = live.customer_id
"""
SOURCE_PAYMENTS = """
SELECT date(p.paid_at), p.method, p.amount FROM payments p JOIN orders o ON o.id = p.order_id AND o.deleted_at IS NULL
"""


@pytest.fixture(scope="module")
def marts(built):
    """The published marts as the operator reads them: city values as the source has them (masking: test_privacy.py)."""
    settings, _ = built
    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        yield con


@pytest.fixture(scope="module")
def source(built):
    settings, _ = built
    orders = [
        dict(zip(("id", "customer", "cancelled", "day", "at", "total", "city", "first_day"), r, strict=True))
        for r in source_rows(settings, SOURCE_ORDERS)
    ]
    return orders, source_rows(settings, SOURCE_PAYMENTS)


def expected_order_metrics(orders: list[dict], start: str, end: str, city: str | None = None) -> dict:
    """The order metrics by plain Python over the source's rows: the definitions in words, once more."""
    rows = [o for o in orders if start <= o["day"] <= end and (city is None or o["city"] == city)]
    kept = [o for o in rows if not o["cancelled"]]
    revenue = sum(o["total"] for o in kept)
    customers = {o["customer"] for o in kept}
    new = {o["customer"] for o in kept if o["first_day"] == o["day"]}
    return {
        "revenue": revenue,
        "orders": len(kept),
        "orders_placed": len(rows),
        "cancelled_orders": len(rows) - len(kept),
        "customers": len(customers),
        "new_customers": len(new),
        "returning_customers": len(customers - new),
        "average_order_value": revenue / len(kept) if kept else None,
        "cancellation_rate": (len(rows) - len(kept)) / len(rows) if rows else None,
    }


ORDER_METRICS = (
    "revenue",
    "orders",
    "orders_placed",
    "cancelled_orders",
    "customers",
    "new_customers",
    "returning_customers",
    "average_order_value",
    "cancellation_rate",
)


def periods(orders: list[dict]) -> list[tuple[str, str]]:
    first, last = min(o["day"] for o in orders), max(o["day"] for o in orders)
    last_day = dt.date.fromisoformat(last)
    return [
        (first, last),
        ((last_day - dt.timedelta(days=29)).isoformat(), last),
        (first[:8] + "01", (dt.date.fromisoformat(first[:8] + "01") + dt.timedelta(days=40)).isoformat()),
        (last[:8] + "01", last),
    ]


def test_every_definition_compiles_against_the_published_schema(marts):
    checked = layer.check(marts)
    assert set(checked) == set(layer.catalog().metrics)
    assert {"revenue", "orders", "orders_placed", "average_order_value", "new_customers", "customers", "amount_paid"} <= set(checked)
    for metric in layer.catalog().metrics.values():
        assert metric.owner and metric.label and metric.description and metric.format in layer.FORMATS
        assert all(table.startswith("marts.") for table in metric.tables)


def test_a_model_change_that_breaks_a_metric_names_both(marts):
    marts.execute("ALTER VIEW marts.fct_payments RENAME TO fct_payments_before")
    try:
        marts.execute("CREATE VIEW marts.fct_payments AS SELECT * RENAME (payment_method AS method) FROM marts.fct_payments_before")
        with pytest.raises(PlatformError) as failure:
            layer.check(marts)
        message = str(failure.value)
        assert "`amount_paid` (reads marts.fct_payments)" in message and "`payments`" in message
        assert "payment_method" in message and "definitions.yml" in message
        assert "`revenue`" not in message
    finally:
        marts.execute("DROP VIEW marts.fct_payments")
        marts.execute("ALTER VIEW marts.fct_payments_before RENAME TO fct_payments")
    layer.check(marts)


def test_order_metrics_equal_sql_on_the_source_for_several_periods(marts, source):
    orders, _ = source
    for start, end in periods(orders):
        got = layer.totals(marts, ORDER_METRICS, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        expected = expected_order_metrics(orders, start, end)
        assert expected["orders"] > 0 and expected["new_customers"] > 0
        assert got == pytest.approx(expected, rel=1e-9, abs=0.005), (start, end)
        assert got["average_order_value"] == pytest.approx(got["revenue"] / got["orders"])


def test_order_metrics_by_month_and_by_city_equal_sql_on_the_source(marts, source):
    orders, _ = source
    first, last = periods(orders)[0]
    by_month = layer.run(marts, layer.Query(ORDER_METRICS, grain="month"))
    assert len(by_month) == len({o["day"][:7] for o in orders})
    for row in by_month.to_dict("records"):
        month = row["period_start"]
        end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        expected = expected_order_metrics(orders, month.isoformat(), end.isoformat())
        assert {k: row[k] for k in ORDER_METRICS} == pytest.approx(expected, rel=1e-9, abs=0.005), month
    cities = layer.run(marts, layer.Query(ORDER_METRICS, by=("customer_city",)))
    city = cities.sort_values("revenue").iloc[-1]["customer_city"]
    filtered = layer.run(marts, layer.Query(ORDER_METRICS, where=(("customer_city", (city,)),))).iloc[0]
    expected = expected_order_metrics(orders, first, last, city=city)
    assert {k: filtered[k] for k in ORDER_METRICS} == pytest.approx(expected, rel=1e-9, abs=0.005)
    assert cities["orders"].sum() == expected_order_metrics(orders, first, last)["orders"]


def test_payment_metrics_by_method_equal_sql_on_the_source(marts, source):
    _, payments = source
    last = max(p[0] for p in payments)
    start = last[:8] + "01"
    frame = layer.run(
        marts,
        layer.Query(
            ("amount_paid", "payments"), by=("payment_method",), start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(last)
        ),
    )
    expected = {}
    for day, method, amount in payments:
        if start <= day <= last:
            total, count = expected.get(method, (0.0, 0))
            expected[method] = (total + amount, count + 1)
    got = {r["payment_method"]: (r["amount_paid"], r["payments"]) for r in frame.to_dict("records")}
    assert got.keys() == expected.keys() and len(got) >= 2
    for method, (amount, count) in expected.items():
        assert got[method] == (pytest.approx(amount, abs=0.005), count)


def test_queries_outside_the_definitions_are_refused(marts):
    with pytest.raises(PlatformError, match="No metric `profit`"):
        layer.compile_sql(layer.Query(("profit",)))
    with pytest.raises(PlatformError, match="cannot be cut by `payment_method`"):
        layer.compile_sql(layer.Query(("revenue",), by=("payment_method",)))
    with pytest.raises(PlatformError, match="different days"):
        layer.compile_sql(layer.Query(("revenue", "amount_paid")))
    with pytest.raises(PlatformError, match="Grain `hour; drop`"):
        layer.compile_sql(layer.Query(("revenue",), grain="hour; drop"))
    quoted = layer.run(marts, layer.Query(("orders",), where=(("customer_city", ("O'Brien'; DROP TABLE x; --",)),)))
    assert quoted["orders"].iloc[0] == 0


def test_a_metric_over_two_models_must_combine_metrics_of_one_day(tmp_path):
    """returning_customers combines orders and customers by the same day; orders with payments are refused, by name."""
    combined = layer.catalog().metrics["returning_customers"]
    assert combined.combines == ("customers", "new_customers") and set(combined.tables) == {"marts.fct_orders", "marts.dim_customers"}
    broken = tmp_path / "definitions.yml"
    broken.write_text(
        layer.DEFINITIONS.read_text()
        + """
  - name: unpaid
    label: Unpaid
    description: Revenue less payments.
    type: derived
    sql: orders.revenue - payments.amount_paid
    meta: {owner: finance, format: money, time_dimension: order_date, dimensions: []}
"""
    )
    with pytest.raises(
        PlatformError, match=r"metric `unpaid` is dated by `order_date` but combines metrics dated by order_date, paid_date"
    ):
        layer.catalog(broken)


def _metrics_cli(built, *args: str, columns: int = 200) -> subprocess.CompletedProcess:
    settings, _ = built
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(settings.data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE, "COLUMNS": str(columns)})
    return subprocess.run([sys.executable, "-m", "metrics.cli", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)


def test_just_metrics_lists_and_queries(built, marts):
    listed = _metrics_cli(built)
    assert listed.returncode == 0, listed.stderr
    for metric in layer.catalog().metrics.values():
        assert metric.name in listed.stdout and metric.label in listed.stdout
    by_month = layer.run(marts, layer.Query(("revenue",), grain="month", where=(("customer_city", ("Berlin",)),)))
    queried = _metrics_cli(built, "query", "revenue", "--by", "month", "--where", "customer_city=Berlin", "--role", "operator")
    assert queried.returncode == 0, queried.stderr
    assert "Month" in queried.stdout and "Revenue" in queried.stdout
    for row in by_month.to_dict("records"):
        assert f"{row['period_start']:%Y-%m}" in queried.stdout and f"€{row['revenue']:,.2f}" in queried.stdout
    narrow = _metrics_cli(built, columns=80)  # an 80-column terminal: lines fit, every label and description whole
    assert max(len(line.rstrip()) for line in narrow.stdout.splitlines()) <= 80, narrow.stdout
    flowing = " ".join(narrow.stdout.split())
    for metric in layer.catalog().metrics.values():
        assert f"{metric.name} {metric.label}" in flowing and " ".join(metric.description.split()) in flowing
    refused = _metrics_cli(built, "query", "revenue", "--by", "payment_method")
    assert refused.returncode == 1
    assert "cannot be cut by `payment_method`" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.slow
def test_metrics_still_equal_the_source_after_a_demo_day(built, tmp_path):
    """A simulated day (new orders, updates, soft deletes) and an incremental run: every order metric still reconciles."""
    settings = copy_build(built[0], tmp_path / "data")
    advance_day(settings.source_path(settings.demo.source), seed=settings.demo.seed)
    run_all(settings)
    orders = [
        dict(zip(("id", "customer", "cancelled", "day", "at", "total", "city", "first_day"), r, strict=True))
        for r in source_rows(settings, SOURCE_ORDERS)
    ]
    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        for start, end in periods(orders):
            got = layer.totals(con, ORDER_METRICS, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
            assert got == pytest.approx(expected_order_metrics(orders, start, end), rel=1e-9, abs=0.005), (start, end)
        by_month = layer.run(con, layer.Query(("revenue", "orders", "new_customers"), grain="month"))
    for row in by_month.to_dict("records"):
        month = row["period_start"]
        end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        expected = expected_order_metrics(orders, month.isoformat(), end.isoformat())
        assert (row["revenue"], row["orders"], row["new_customers"]) == (
            pytest.approx(expected["revenue"], abs=0.005),
            expected["orders"],
            expected["new_customers"],
        )


def test_a_metric_shows_the_decimals_its_definition_declares(tmp_path):
    """`meta: {decimals: 2}` on a count: 10.04 reads "10.04", not "10"; formats without it keep their own."""
    text = DEFINITIONS.read_text()
    marker = "meta: {owner: analytics, format: count, time_dimension: order_date, dimensions: [order_status, customer_city]}"
    declared = tmp_path / "definitions.yml"
    declared.write_text(text.replace(marker, marker[:-1] + ", decimals: 2}", 1))
    cat = layer.catalog(declared)  # the layer accepts the key
    counted = display.declared_decimals(declared)
    (name,) = counted
    assert counted == {name: 2} and cat.metrics[name].format == "count"
    assert display.format_value("count", 10.04, counted[name]) == "10.04"
    assert display.format_value("count", 10.04) == "10" and display.format_value("money", 10.04) == "€10.04"
    assert display.format_value("ratio", 0.1004, 2) == "10.04%"
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(text.replace(marker, marker[:-1] + ", decimals: two}", 1))
    with pytest.raises(ValueError, match="declares decimals 'two'"):
        display.declared_decimals(wrong)


QUERY_THEN_CATALOG = """
import datetime as dt, sys
from pathlib import Path
from app.queries.catalog import load_catalog
from core.settings import load_settings
from metrics import layer
from publish.reader import connect_published

settings = load_settings(Path.cwd())
con, _ = connect_published(settings, role="operator")
frame = layer.run(con, layer.Query(("revenue", "returning_customers"), by=("customer_city",), grain="month"))
assert len(frame) > 0
catalog = load_catalog(settings)
mart = next(m for m in catalog.models if m.name == "marts.monthly_revenue")
print(len(catalog.models), mart.owner, mart.grain, bool(mart.description))
"""


def test_a_metric_query_leaves_sqlmesh_loading_the_project_in_the_same_process(built):
    """No library patches another's parser: after a metric query, the Catalog page's model loading still works."""
    settings, _ = built
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM__")}
    environ.update({"PLATFORM__DATA_DIR": str(settings.data_dir), "PLATFORM__DEMO__SCALE": SMALL_SCALE})
    done = subprocess.run([sys.executable, "-c", QUERY_THEN_CATALOG], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    models, owner, grain, described = done.stdout.split()
    assert int(models) > 10 and owner != "" and grain != "" and described == "True"
