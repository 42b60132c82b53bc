-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH part_0 AS (
  WITH orders_cte AS (
    SELECT
      CASE WHEN is_cancelled = TRUE THEN order_id ELSE NULL END AS cancelled_orders_raw,
      CASE WHEN is_cancelled = FALSE THEN customer_id ELSE NULL END AS customers_raw,
      is_cancelled AS is_cancelled,
      CAST(DATE_TRUNC('DAY', order_date) AS DATE) AS order_date,
      CAST(DATE_TRUNC('MONTH', order_date) AS DATE) AS order_date__month,
      order_id AS orders_placed_raw,
      CASE WHEN is_cancelled = FALSE THEN order_id ELSE NULL END AS orders_raw,
      CASE WHEN is_cancelled = FALSE THEN amount_total ELSE NULL END AS revenue_raw
    FROM marts.fct_orders
    WHERE
      NOT order_date IS NULL
  )
  SELECT
    orders_cte.order_date__month AS period_start,
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
  GROUP BY
    1
  ORDER BY
    period_start NULLS FIRST
), part_1 AS (
  WITH customers_cte AS (
    SELECT
      first_live_order_date AS first_live_order_date,
      CASE WHEN NOT first_live_order_date IS NULL THEN customer_id ELSE NULL END AS new_customers_raw,
      CAST(DATE_TRUNC('DAY', first_live_order_date) AS DATE) AS order_date,
      CAST(DATE_TRUNC('MONTH', first_live_order_date) AS DATE) AS order_date__month
    FROM marts.dim_customers
    WHERE
      NOT first_live_order_date IS NULL
  )
  SELECT
    customers_cte.order_date__month AS period_start,
    COALESCE(COUNT(customers_cte.new_customers_raw), 0) AS new_customers
  FROM customers_cte
  GROUP BY
    1
  ORDER BY
    period_start NULLS FIRST
)
SELECT
  COALESCE(part_0.period_start, part_1.period_start) AS period_start,
  COALESCE(part_0.revenue, 0) AS revenue,
  COALESCE(part_0.orders, 0) AS orders,
  COALESCE(part_0.orders_placed, 0) AS orders_placed,
  COALESCE(part_0.cancelled_orders, 0) AS cancelled_orders,
  part_0.average_order_value AS average_order_value,
  part_0.cancellation_rate AS cancellation_rate,
  COALESCE(part_0.customers, 0) AS customers,
  COALESCE(part_1.new_customers, 0) AS new_customers,
  COALESCE(part_0.customers, 0) - COALESCE(part_1.new_customers, 0) AS returning_customers
FROM part_0
FULL JOIN part_1
  ON part_0.period_start IS NOT DISTINCT FROM part_1.period_start
ORDER BY
  1
