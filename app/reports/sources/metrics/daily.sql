-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH customers_cte AS (
  SELECT
    customer_city AS customer_city,
    customer_id AS customer_id
  FROM marts.dim_customers
), orders_cte AS (
  SELECT
    CASE WHEN is_cancelled = TRUE THEN order_id ELSE NULL END AS cancelled_orders_raw,
    customer_id AS customer_id,
    is_cancelled AS is_cancelled,
    CAST(DATE_TRUNC('DAY', order_date) AS DATE) AS order_date,
    CAST(DATE_TRUNC('DAY', order_date) AS DATE) AS order_date__day,
    order_id AS order_id,
    order_status AS order_status,
    order_id AS orders_placed_raw,
    CASE WHEN is_cancelled = FALSE THEN order_id ELSE NULL END AS orders_raw,
    CASE WHEN is_cancelled = FALSE THEN amount_total ELSE NULL END AS revenue_raw
  FROM marts.fct_orders
  WHERE
    NOT order_date IS NULL
)
SELECT
  orders_cte.order_date__day AS period_start,
  customers_cte.customer_city AS customer_city,
  orders_cte.order_status AS order_status,
  COALESCE(SUM(orders_cte.revenue_raw), 0) AS revenue,
  COALESCE(COUNT(orders_cte.orders_raw), 0) AS orders,
  COALESCE(COUNT(orders_cte.orders_placed_raw), 0) AS orders_placed,
  COALESCE(COUNT(orders_cte.cancelled_orders_raw), 0) AS cancelled_orders
FROM orders_cte
LEFT JOIN customers_cte
  ON orders_cte.customer_id = customers_cte.customer_id
GROUP BY
  1,
  2,
  3
ORDER BY
  period_start NULLS FIRST,
  customer_city NULLS FIRST,
  order_status NULLS FIRST
