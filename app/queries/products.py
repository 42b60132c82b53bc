"""Products and categories, from an order-line mart when one is published.

The marts published today stop at the order; product performance needs
`marts.fct_order_items` (one row per order line) with the columns below. Until
it is published, `missing_columns` says what is missing and the page explains it.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from app.queries.business import Period

ORDER_LINES = "fct_order_items"
REQUIRED_COLUMNS = ("order_date", "product_id", "product_name", "product_category", "count_units", "amount_line_total", "is_cancelled")


def missing_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The required columns of `marts.fct_order_items` that are not published (all of them if the table is not)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = ?",
        (ORDER_LINES,),
    ).fetchall()
    present = {name for (name,) in rows}
    return [column for column in REQUIRED_COLUMNS if column not in present]


def product_ranking(con: duckdb.DuckDBPyConnection, period: Period, limit: int = 25) -> pd.DataFrame:
    """Products by revenue in the period (lines of orders not cancelled), with their share of it."""
    return con.execute(
        """
        SELECT product_id, product_name, product_category,
          sum(count_units)::BIGINT AS count_units,
          sum(amount_line_total)::DOUBLE AS amount_revenue,
          sum(amount_line_total) / sum(sum(amount_line_total)) OVER () AS share_of_revenue
        FROM marts.fct_order_items
        WHERE order_date BETWEEN $start AND $end AND NOT is_cancelled
        GROUP BY ALL ORDER BY amount_revenue DESC, product_id LIMIT $limit
        """,
        {"start": period.start, "end": period.end, "limit": limit},
    ).df()


def category_trend(con: duckdb.DuckDBPyConnection, period: Period, grain: str) -> pd.DataFrame:
    """Revenue per category and day, week or month."""
    return con.execute(
        """
        SELECT date_trunc($grain, order_date)::DATE AS period_start, product_category,
          sum(amount_line_total)::DOUBLE AS amount_revenue
        FROM marts.fct_order_items
        WHERE order_date BETWEEN $start AND $end AND NOT is_cancelled
        GROUP BY ALL ORDER BY period_start, product_category
        """,
        {"start": period.start, "end": period.end, "grain": grain},
    ).df()
