-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH part_0 AS (
  WITH orders_cte AS (
    SELECT
      CASE WHEN is_cancelled = TRUE THEN order_id ELSE NULL END AS cancelled_orders_raw,
      is_cancelled AS is_cancelled,
      order_id AS orders_placed_raw,
      CASE WHEN is_cancelled = FALSE THEN order_id ELSE NULL END AS orders_raw,
      CASE WHEN is_cancelled = FALSE THEN amount_total ELSE NULL END AS revenue_raw
    FROM marts.fct_orders
  )
  SELECT
    (
      COALESCE(SUM(orders_cte.revenue_raw), 0)
    ) / NULLIF(COALESCE(COUNT(orders_cte.orders_raw), 0), 0) AS average_order_value,
    (
      COALESCE(COUNT(orders_cte.cancelled_orders_raw), 0)
    ) / NULLIF(COALESCE(COUNT(orders_cte.orders_placed_raw), 0), 0) AS cancellation_rate,
    COALESCE(COUNT(orders_cte.cancelled_orders_raw), 0) AS cancelled_orders,
    COALESCE(COUNT(orders_cte.orders_raw), 0) AS orders,
    COALESCE(COUNT(orders_cte.orders_placed_raw), 0) AS orders_placed,
    COALESCE(SUM(orders_cte.revenue_raw), 0) AS revenue
  FROM orders_cte
), part_1 AS (
  WITH ordering_customers_cte AS (
    SELECT
      customer_id AS customers_raw,
      order_id AS order_id
    FROM (
      SELECT
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        orders.order_date = customers.first_live_order_date AS is_first_order_day
      FROM marts.fct_orders AS orders
      JOIN marts.dim_customers AS customers
        ON customers.customer_id = orders.customer_id
      WHERE
        NOT orders.is_cancelled
    ) AS t
  )
  SELECT
    COALESCE(COUNT(DISTINCT ordering_customers_cte.customers_raw), 0) AS customers
  FROM ordering_customers_cte
)
SELECT
  part_0.revenue AS revenue,
  part_0.orders AS orders,
  part_0.orders_placed AS orders_placed,
  part_0.cancelled_orders AS cancelled_orders,
  part_0.average_order_value AS average_order_value,
  part_0.cancellation_rate AS cancellation_rate,
  part_1.customers AS customers
FROM part_0
CROSS JOIN part_1
