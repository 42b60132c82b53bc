"""The dashboard's queries over the published marts (`marts.<table>` views of `connect_published`).

One place for them, so that the Streamlit pages and the benchmark run the same SQL.
"""

from __future__ import annotations

DASHBOARD_QUERIES: dict[str, str] = {
    "kpis": """
        SELECT sum(amount_revenue) AS amount_revenue, sum(count_orders) AS count_orders,
               sum(count_cancelled_orders) AS count_cancelled_orders,
               (SELECT count(*) FROM marts.dim_customers) AS count_customers
        FROM marts.daily_revenue
    """,
    "revenue_last_90_days": """
        SELECT revenue_date, amount_revenue, count_orders, amount_average_order_value
        FROM marts.daily_revenue
        WHERE revenue_date > (SELECT max(revenue_date) FROM marts.daily_revenue) - INTERVAL 90 DAY
        ORDER BY revenue_date
    """,
    "revenue_by_month": """
        SELECT date_trunc('month', order_date) AS order_month, count(*) AS count_orders,
               sum(amount_total) FILTER (WHERE NOT is_cancelled) AS amount_revenue
        FROM marts.fct_orders
        GROUP BY order_month
        ORDER BY order_month
    """,
    "orders_by_status": """
        SELECT order_status, count(*) AS count_orders, sum(amount_total) AS amount_total
        FROM marts.fct_orders
        GROUP BY order_status
        ORDER BY count_orders DESC
    """,
    "top_customers": """
        SELECT customer_id, customer_name, customer_city, count_orders, amount_lifetime_value
        FROM marts.dim_customers
        ORDER BY amount_lifetime_value DESC, customer_id
        LIMIT 20
    """,
    "customers_by_city": """
        SELECT customer_city, count(*) AS count_customers, sum(amount_lifetime_value) AS amount_lifetime_value
        FROM marts.dim_customers
        GROUP BY customer_city
        ORDER BY amount_lifetime_value DESC
    """,
    "recent_orders": """
        SELECT order_id, customer_id, order_status, ordered_at, amount_total, amount_paid
        FROM marts.fct_orders
        ORDER BY ordered_at DESC, order_id DESC
        LIMIT 50
    """,
}
