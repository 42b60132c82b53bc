-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
SELECT
  COALESCE(SUM(orders.m__revenue), 0) AS revenue,
  COALESCE(COUNT(orders.m__orders), 0) AS orders,
  COALESCE(COUNT(orders.m__orders_placed), 0) AS orders_placed,
  COALESCE(COUNT(orders.m__cancelled_orders), 0) AS cancelled_orders,
  COALESCE(SUM(orders.m__revenue), 0) / NULLIF(COALESCE(COUNT(orders.m__orders), 0), 0) AS average_order_value,
  COALESCE(COUNT(orders.m__cancelled_orders), 0) / NULLIF(COALESCE(COUNT(orders.m__orders_placed), 0), 0) AS cancellation_rate,
  COALESCE(COUNT(DISTINCT orders.m__customers), 0) AS customers
FROM (
  SELECT
    order_date AS d__day,
    CASE WHEN (is_cancelled = false) THEN amount_total END AS m__revenue,
    CASE WHEN (is_cancelled = false) THEN order_id END AS m__orders,
    order_id AS m__orders_placed,
    CASE WHEN (is_cancelled = true) THEN order_id END AS m__cancelled_orders,
    CASE WHEN (is_cancelled = false) THEN customer_id END AS m__customers
  FROM marts.fct_orders
) AS orders
WHERE orders.d__day IS NOT NULL
