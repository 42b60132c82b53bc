"""Products and categories, from the daily product and category sales marts and the product dimension.

Product performance needs `marts.product_daily_sales` (one row per day and product
sold), `marts.category_daily_sales` (one row per day and category) and
`marts.dim_products`. If a published version lacks them (an older publish),
`missing_columns` says what is missing and the page explains it.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from app.queries.business import Period

REQUIRED_COLUMNS = {
    "product_daily_sales": ("order_date", "product_id", "count_units", "amount_revenue"),
    "category_daily_sales": ("order_date", "product_category", "amount_revenue"),
    "dim_products": ("product_id", "product_name", "product_category"),
}

_SALES = """
    SELECT sales.order_date, sales.product_id, products.product_name, products.product_category,
      sales.count_units, sales.amount_revenue
    FROM marts.product_daily_sales AS sales
    JOIN marts.dim_products AS products ON products.product_id = sales.product_id
    WHERE sales.order_date BETWEEN $start AND $end
"""


def missing_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The required `table.column`s that are not published."""
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts'").fetchall()
    present = set(rows)
    return [f"{table}.{column}" for table, columns in REQUIRED_COLUMNS.items() for column in columns if (table, column) not in present]


def product_ranking(con: duckdb.DuckDBPyConnection, period: Period, limit: int = 25) -> pd.DataFrame:
    """Products by revenue in the period (lines of orders not cancelled), with their share of it."""
    return con.execute(
        f"""
        WITH sales AS ({_SALES})
        SELECT product_id, product_name, product_category,
          sum(count_units)::BIGINT AS count_units,
          sum(amount_revenue)::DOUBLE AS amount_revenue,
          sum(amount_revenue) / sum(sum(amount_revenue)) OVER () AS share_of_revenue
        FROM sales
        GROUP BY ALL ORDER BY amount_revenue DESC, product_id LIMIT $limit
        """,
        {"start": period.start, "end": period.end, "limit": limit},
    ).df()


def category_trend(con: duckdb.DuckDBPyConnection, period: Period, grain: str) -> pd.DataFrame:
    """Revenue per category and day, week or month; each day under the categories its products had that day."""
    return con.execute(
        """
        SELECT date_trunc($grain, order_date)::DATE AS period_start, product_category,
          sum(amount_revenue)::DOUBLE AS amount_revenue
        FROM marts.category_daily_sales
        WHERE order_date BETWEEN $start AND $end
        GROUP BY ALL ORDER BY period_start, product_category
        """,
        {"start": period.start, "end": period.end, "grain": grain},
    ).df()
