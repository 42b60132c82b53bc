"""Products and categories, from the order-line mart and the product dimension.

Product performance needs `marts.fct_order_items` (one row per order line) and
`marts.dim_products`. If a published version lacks them (an older publish),
`missing_columns` says what is missing and the page explains it.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from app.queries.business import Period

REQUIRED_COLUMNS = {
    "fct_order_items": ("order_date", "product_id", "quantity", "amount_line", "is_cancelled"),
    "dim_products": ("product_id", "product_name", "product_category"),
}

_LINES = """
    SELECT lines.order_date, lines.product_id, products.product_name, products.product_category,
      lines.quantity, lines.amount_line
    FROM marts.fct_order_items AS lines
    JOIN marts.dim_products AS products ON products.product_id = lines.product_id
    WHERE lines.order_date BETWEEN $start AND $end AND NOT lines.is_cancelled
"""


def missing_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The required `table.column`s that are not published."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts'"
    ).fetchall()
    present = set(rows)
    return [f"{table}.{column}" for table, columns in REQUIRED_COLUMNS.items() for column in columns if (table, column) not in present]


def product_ranking(con: duckdb.DuckDBPyConnection, period: Period, limit: int = 25) -> pd.DataFrame:
    """Products by revenue in the period (lines of orders not cancelled), with their share of it."""
    return con.execute(
        f"""
        WITH lines AS ({_LINES})
        SELECT product_id, product_name, product_category,
          sum(quantity)::BIGINT AS count_units,
          sum(amount_line)::DOUBLE AS amount_revenue,
          sum(amount_line) / sum(sum(amount_line)) OVER () AS share_of_revenue
        FROM lines
        GROUP BY ALL ORDER BY amount_revenue DESC, product_id LIMIT $limit
        """,
        {"start": period.start, "end": period.end, "limit": limit},
    ).df()


def category_trend(con: duckdb.DuckDBPyConnection, period: Period, grain: str) -> pd.DataFrame:
    """Revenue per category and day, week or month."""
    return con.execute(
        f"""
        WITH lines AS ({_LINES})
        SELECT date_trunc($grain, order_date)::DATE AS period_start, product_category,
          sum(amount_line)::DOUBLE AS amount_revenue
        FROM lines
        GROUP BY ALL ORDER BY period_start, product_category
        """,
        {"start": period.start, "end": period.end, "grain": grain},
    ).df()
