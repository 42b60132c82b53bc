-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH orders_cte AS (
  SELECT
    CASE WHEN is_cancelled = TRUE THEN order_id ELSE NULL END AS cancelled_orders_raw,
    CASE WHEN is_cancelled = FALSE THEN customer_id ELSE NULL END AS customers_raw,
    t.is_cancelled AS is_cancelled,
    order_id AS order_id,
    order_id AS orders_placed_raw,
    CASE WHEN is_cancelled = FALSE THEN order_id ELSE NULL END AS orders_raw,
    CASE WHEN is_cancelled = FALSE THEN amount_total ELSE NULL END AS revenue_raw
  FROM (
    SELECT
      order_id,
      customer_id,
      order_status,
      order_date,
      amount_total,
      is_cancelled,
      NOT is_cancelled
      AND ROW_NUMBER() OVER (PARTITION BY customer_id, is_cancelled ORDER BY ordered_at, order_id) = 1 AS is_first_order
    FROM marts.fct_orders
  ) AS t
)
SELECT
  COALESCE(SUM(orders_cte.revenue_raw), 0) AS revenue,
  COALESCE(COUNT(orders_cte.orders_raw), 0) AS orders,
  COALESCE(COUNT(orders_cte.orders_placed_raw), 0) AS orders_placed,
  COALESCE(COUNT(orders_cte.cancelled_orders_raw), 0) AS cancelled_orders,
  (
    COALESCE(SUM(orders_cte.revenue_raw), 0)
  ) / NULLIF(COALESCE(COUNT(orders_cte.orders_raw), 0), 0) AS average_order_value,
  (
    COALESCE(COUNT(orders_cte.cancelled_orders_raw), 0)
  ) / NULLIF(COALESCE(COUNT(orders_cte.orders_placed_raw), 0), 0) AS cancellation_rate,
  COALESCE(COUNT(DISTINCT orders_cte.customers_raw), 0) AS customers
FROM orders_cte
