"""One meaning per word: a published column named like a metric holds that metric, at the mart's grain.

A column's name, as it is or without its type prefix (`count_orders` -> `orders`), is a metric's name: then
the column, rolled up to a grain the metric has, equals the metric queried through the layer at
that grain. Every published mart is walked; a mart with such a column that this file does not
know how to roll up fails, naming it, so a new column either matches its metric or gets a name
that says what it counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pytest

from app.queries import business
from metrics import layer
from publish.reader import connect_published

PREFIXES = ("count_", "amount_", "rate_", "share_")
# The metrics that add up over the rows of a mart whose grain the metric lacks (a product, a
# customer): each order, payment or euro is in one row only. Counts of orders over products or
# categories do not (an order holds several products); there the rows only bound the metric.
ADDITIVE = {"revenue", "orders", "orders_placed", "cancelled_orders", "amount_paid", "payments", "new_customers"}
SHARED = {"product_id", "product_category"}  # grain columns an order can fall in several values of


@dataclass(frozen=True)
class Grain:
    """A mart's grain as the layer reads it."""

    period: str | None = None  # the column holding the period's first day
    grain: str | None = None  # the layer's grain of that column
    dated_by: str | None = None  # the day the period is of: order_date (placed) or paid_date
    dimensions: tuple[str, ...] = ()  # grain columns that are metric dimensions
    within: tuple[str, ...] = ()  # grain columns no metric is cut by: rolled up over


MARTS = {
    "daily_revenue": Grain("revenue_date", "day", "order_date"),
    "weekly_revenue": Grain("week_start_date", "week", "order_date"),
    "monthly_revenue": Grain("month_start_date", "month", "order_date"),
    "payment_method_mix": Grain("paid_month", "month", "paid_date", dimensions=("payment_method",)),
    "category_daily_sales": Grain("order_date", "day", "order_date", within=("product_category",)),
    "category_performance": Grain(within=("product_category",)),
    "product_daily_sales": Grain("order_date", "day", "order_date", within=("product_id",)),
    "product_performance": Grain(within=("product_id",)),
    "customer_cohorts": Grain("order_month", "month", "order_date", within=("cohort_month",)),
    "repeat_purchase_rate": Grain("cohort_month", "month", "order_date"),
    "dim_customers": Grain(within=("customer_id",)),
    "dim_products": Grain(within=("product_id",)),
    "fct_orders": Grain("order_date", "day", "order_date", dimensions=("order_status",), within=("order_id",)),
    "fct_order_items": Grain("order_date", "day", "order_date", within=("order_item_id",)),
    "fct_payments": Grain("paid_date", "day", "paid_date", dimensions=("payment_method",), within=("payment_id",)),
}


def metric_columns(con) -> list[tuple[str, str, str]]:
    """Every published (mart, column, metric) whose column is named after a metric."""
    names = layer.catalog().metrics
    found = []
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts' ORDER BY 1, 2"
    ).fetchall():
        # `amount_paid` is a metric's own name; `count_orders` is `orders` under its type prefix.
        stripped = [column.removeprefix(prefix) for prefix in PREFIXES if column.startswith(prefix)]
        name = next((n for n in (column, *stripped) if n in names), None)
        if name:
            found.append((table, column, name))
    return found


def _rolled_up(con, mart: str, column: str, keys: list[str]) -> pd.DataFrame:
    """The column per period and dimension (`keys`), summed (and its largest row) over the grain the metric lacks."""
    select = ", ".join([*keys, f"sum({column})::DOUBLE AS total", f"max({column})::DOUBLE AS largest", "count(*) AS n"])
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    return con.execute(f"SELECT {select} FROM marts.{mart}{group}").df()


def _metric(con, metric: layer.Metric, by: tuple[str, ...], period: str | None) -> pd.DataFrame:
    frame = layer.run(con, layer.Query((metric.name,), by=by, grain=period))
    if period is not None:
        frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


@pytest.fixture(scope="module")
def marts(built):
    settings, _ = built
    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        yield con


def test_every_published_column_named_after_a_metric_holds_that_metric(marts):
    found = metric_columns(marts)
    unknown = sorted({mart for mart, _, _ in found if mart not in MARTS})
    assert not unknown, f"marts with a column named after a metric that this test cannot roll up: {unknown}"
    assert {("daily_revenue", "count_new_customers"), ("daily_revenue", "amount_revenue"), ("fct_payments", "amount_paid")} <= {
        (mart, column) for mart, column, _ in found
    }
    compared = []
    for mart, column, name in found:
        grain, metric = MARTS[mart], layer.catalog().metrics[name]
        # A mart dated by another day than the metric (an order's payments by the day it was placed)
        # can only be compared over all its periods.
        dated = grain.period is not None and grain.dated_by == metric.time_dimension.split(".")[1]
        by = tuple(d for d in grain.dimensions if d in metric.dimensions)
        mart_rows = _rolled_up(marts, mart, column, ([f"{grain.period} AS period_start"] if dated else []) + list(by))
        metric_rows = _metric(marts, metric, by, grain.grain if dated else None)
        keys = (["period_start"] if dated else []) + list(by)
        if dated:
            mart_rows["period_start"] = pd.to_datetime(mart_rows["period_start"])
        merged = mart_rows.merge(metric_rows, on=keys, how="outer") if keys else mart_rows.join(metric_rows, how="outer")
        # A period or cut the mart lists with nothing in it is the metric's fill there (no orders: 0).
        merged[name] = merged[name].fillna(metric.fill) if metric.fill is not None else merged[name]
        shared = set(grain.within) & SHARED and name not in ("revenue", "amount_paid")
        rolled_over = bool(grain.within) or len(by) < len(grain.dimensions) or (grain.period is not None and not dated)
        for row in merged.to_dict("records"):
            where = (mart, column, {k: row[k] for k in keys})
            if shared:
                # Orders counted per product: each product's count is at most the metric, their sum at least.
                assert row["largest"] <= row[name] <= row["total"], where
            elif rolled_over:
                assert name in ADDITIVE, where
                assert row["total"] == pytest.approx(row[name], abs=0.005), where
            elif pd.isna(row[name]):
                assert pd.isna(row["total"]), where
            else:
                assert row["total"] == pytest.approx(row[name], abs=0.0051), where
        compared.append((mart, column))
    assert len(compared) == len(found) >= 10


def test_top_customers_first_order_is_the_cohorts_first_order(marts):
    """Under Top customers, the first order is the first one not cancelled, as the cohorts and new customers count it."""
    top = business.top_customers(marts, 500)
    firsts = dict(marts.execute("SELECT customer_id, min(order_date) FROM marts.fct_orders WHERE NOT is_cancelled GROUP BY 1").fetchall())
    assert "first_live_order_date" in top.columns and "first_order_date" not in top.columns
    for row in top.to_dict("records"):
        first = row["first_live_order_date"]
        expected = firsts.get(row["customer_id"])
        assert (None if pd.isna(first) else pd.Timestamp(first).date()) == expected, row["customer_id"]
    assert any(isinstance(v, dt.date) or not pd.isna(v) for v in top["first_live_order_date"])
