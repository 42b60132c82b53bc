"""Business metrics on the published marts: KPIs with their change, trends, customers.

Every function takes a connection from `publish.reader.connect_published` (views
`marts.<table>`) and returns plain values or DataFrames. Definitions, used
everywhere in the app:
- revenue: totals of orders placed in the period and not cancelled;
- orders: orders placed in the period, cancelled or not;
- average order value: revenue per order not cancelled;
- new customers: customers whose first order falls in the period; returning: who
  ordered in the period and had ordered before it;
- cancellation rate: cancelled orders per order placed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

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
    name: str
    value: float | None
    previous: float | None
    unit: str  # "eur", "count" or "ratio"

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


def period_totals(con: duckdb.DuckDBPyConnection, period: Period) -> dict[str, float | None]:
    """The raw KPI values of one period.

    Sums `daily_revenue`'s days, whose new customers add up over a period (a customer is new on
    one day only); returning customers are the others who ordered in the period. Only that
    distinct count reads `fct_orders`, and only the period's days of it.
    """
    rows = con.execute(
        """
        WITH days AS (
          SELECT
            coalesce(sum(amount_revenue), 0)::DOUBLE AS revenue,
            coalesce(sum(count_orders), 0) AS orders,
            coalesce(sum(count_cancelled_orders), 0) AS cancelled,
            coalesce(sum(count_new_customers), 0) AS new
          FROM marts.daily_revenue WHERE revenue_date BETWEEN $start AND $end
        ),
        ordering AS (
          SELECT count(DISTINCT customer_id) AS customers FROM marts.fct_orders WHERE order_date BETWEEN $start AND $end
        )
        SELECT revenue, orders, cancelled, new, customers - new FROM days, ordering
        """,
        {"start": period.start, "end": period.end},
    ).fetchall()
    [(revenue, orders, cancelled, new, returning)] = rows
    kept = orders - cancelled
    return {
        "revenue": revenue,
        "orders": orders,
        "average_order_value": revenue / kept if kept else None,
        "new_customers": new,
        "returning_customers": returning,
        "cancellation_rate": cancelled / orders if orders else None,
    }


KPI_LABELS = {
    "revenue": ("Revenue", "eur"),
    "orders": ("Orders", "count"),
    "average_order_value": ("Average order value", "eur"),
    "new_customers": ("New customers", "count"),
    "returning_customers": ("Returning customers", "count"),
    "cancellation_rate": ("Cancellation rate", "ratio"),
}


def kpis(con: duckdb.DuckDBPyConnection, period: Period) -> list[Kpi]:
    """The overview's KPIs for `period`, each with its value in the previous period."""
    now, before = period_totals(con, period), period_totals(con, period.previous())
    return [Kpi(label, now[key], before[key], unit) for key, (label, unit) in KPI_LABELS.items()]


def kpi_table(items: list[Kpi]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"kpi": k.name, "value": k.value, "previous_period": k.previous, "change": k.change} for k in items]
    )


def trends(con: duckdb.DuckDBPyConnection, period: Period, grain: str) -> pd.DataFrame:
    """Revenue, orders and cancellations per day, week (starting Monday) or month of `period`."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {grain!r}")
    return con.execute(
        f"""
        SELECT
          date_trunc('{grain}', revenue_date)::DATE AS period_start,
          sum(amount_revenue)::DOUBLE AS amount_revenue,
          sum(count_orders)::BIGINT AS count_orders,
          sum(count_cancelled_orders)::BIGINT AS count_cancelled_orders
        FROM marts.daily_revenue
        WHERE revenue_date BETWEEN $start AND $end
        GROUP BY ALL
        ORDER BY period_start
        """,
        {"start": period.start, "end": period.end},
    ).df()


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
    """The customers with the highest lifetime value."""
    return con.execute(
        """
        SELECT customer_id, customer_name, customer_city, count_orders,
          amount_lifetime_value::DOUBLE AS amount_lifetime_value, first_order_date, last_order_date
        FROM marts.dim_customers
        ORDER BY amount_lifetime_value DESC, customer_id
        LIMIT $limit
        """,
        {"limit": limit},
    ).df()
