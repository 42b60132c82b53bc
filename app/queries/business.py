"""Business figures on the published marts: KPIs with their change, trends, payment mix, customers.

Every function takes a connection from `publish.reader.connect_published` (views
`marts.<table>`) and returns plain values or DataFrames. The metrics themselves
(revenue, orders, average order value, new customers, ...) are defined once, in
`metrics/definitions.yml`, and read through `metrics.layer`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from metrics import display, layer

GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        end = self.start - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end)


@dataclass(frozen=True)
class Kpi:
    metric: str  # the metric's name in metrics/definitions.yml
    label: str
    description: str
    value: float | None
    previous: float | None
    unit: str  # the metric's format: money, count or ratio

    @property
    def change(self) -> float | None:
        """Relative change for amounts and counts; the difference in points for ratios."""
        if self.value is None or self.previous is None:
            return None
        if self.unit == "ratio":
            return self.value - self.previous
        return (self.value - self.previous) / self.previous if self.previous else None


def order_date_range(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date] | None:
    """The first and last order dates published, or None when there are no orders."""
    [(first, last)] = con.execute("SELECT min(order_date), max(order_date) FROM marts.fct_orders").fetchall()
    return None if first is None else (first, last)


OVERVIEW_METRICS = ("revenue", "orders", "average_order_value", "new_customers", "returning_customers", "cancellation_rate")
TREND_METRICS = ("revenue", "orders", "orders_placed", "cancelled_orders")
PAYMENT_METRICS = ("amount_paid", "payments")


def kpis(con: duckdb.DuckDBPyConnection, period: Period) -> list[Kpi]:
    """The overview's KPIs for `period`, each with its value in the previous period, from the semantic layer."""
    before = period.previous()
    now = layer.totals(con, OVERVIEW_METRICS, period.start, period.end)
    then = layer.totals(con, OVERVIEW_METRICS, before.start, before.end)
    metrics = layer.catalog().metrics
    return [
        Kpi(name, metrics[name].label, metrics[name].description, now[name], then[name], metrics[name].format) for name in OVERVIEW_METRICS
    ]


def kpi_table(items: list[Kpi]) -> pd.DataFrame:
    """The KPIs as a table a reader can scan: formatted values, the change in % (points for ratios)."""
    metrics = layer.catalog().metrics
    rows = []
    for k in items:
        if k.change is None:
            change = "–"
        else:
            change = f"{k.change * 100:+.1f} pts" if k.unit == "ratio" else f"{k.change:+.1%}"
        rows.append(
            {
                "KPI": k.label,
                "This period": display.metric_value(metrics[k.metric], k.value),
                "Previous period": display.metric_value(metrics[k.metric], k.previous),
                "Change": change,
            }
        )
    return pd.DataFrame(rows)


def kpi_values(items: list[Kpi]) -> pd.DataFrame:
    """The KPIs' values behind `kpi_table`, for a CSV: amounts in EUR, ratios and changes as fractions."""
    return pd.DataFrame(
        [{"KPI": k.label, "Format": k.unit, "This period": k.value, "Previous period": k.previous, "Change": k.change} for k in items]
    )


def trends(con: duckdb.DuckDBPyConnection, period: Period, grain: str) -> pd.DataFrame:
    """Revenue and orders per day, week (starting Monday) or month of `period`, from the semantic layer."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {grain!r}")
    return layer.run(con, layer.Query(TREND_METRICS, grain=grain, start=period.start, end=period.end))


def payment_mix(con: duckdb.DuckDBPyConnection, period: Period) -> pd.DataFrame:
    """Payments taken in `period` per payment method, with each method's share of the amount paid."""
    frame = layer.run(con, layer.Query(PAYMENT_METRICS, by=("payment_method",), start=period.start, end=period.end))
    total = frame["amount_paid"].sum()
    frame["share_of_amount"] = frame["amount_paid"] / total if total else None
    return frame.sort_values("amount_paid", ascending=False, ignore_index=True)


def cohort_retention(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per cohort (month of the first order not cancelled): the share still ordering N months later.

    Read from the `customer_cohorts` mart, which computes it once per build (at 1M orders the
    same query over `fct_orders` took 230 ms per page view).
    """
    return con.execute(
        """
        SELECT cohort_month, months_since_first_order AS months_since_first,
          count_cohort_customers AS cohort_customers, count_active_customers,
          rate_retention::DOUBLE AS retention
        FROM marts.customer_cohorts
        ORDER BY cohort_month, months_since_first_order
        """
    ).df()


def ltv_distribution(con: duckdb.DuckDBPyConnection, buckets: int = 20) -> pd.DataFrame:
    """Customers with at least one order, counted per lifetime-value bucket of equal width."""
    return con.execute(
        """
        WITH customers AS (
          SELECT amount_lifetime_value::DOUBLE AS ltv FROM marts.dim_customers WHERE count_orders > 0
        ),
        width AS (SELECT greatest(ceil(max(ltv) / $buckets), 1) AS width FROM customers)
        SELECT
          floor(ltv / width) * width AS ltv_from,
          floor(ltv / width) * width + width AS ltv_to,
          count(*) AS count_customers
        FROM customers, width
        GROUP BY ALL
        ORDER BY ltv_from
        """,
        {"buckets": buckets},
    ).df()


def top_customers(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    """The customers with the highest lifetime value; their name and city where the reader's role sees them."""
    return con.execute(
        """
        SELECT COLUMNS(c -> c IN ('customer_id', 'customer_name', 'customer_city')), count_orders,
          amount_lifetime_value::DOUBLE AS amount_lifetime_value, first_live_order_date, last_order_date
        FROM marts.dim_customers
        ORDER BY amount_lifetime_value DESC, customer_id
        LIMIT $limit
        """,
        {"limit": limit},
    ).df()
