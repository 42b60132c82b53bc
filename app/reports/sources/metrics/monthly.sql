-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH part_0 AS (
  SELECT
    CAST(DATE_TRUNC('month', orders.d__day) AS DATE) AS period_start,
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
  GROUP BY 1
  ORDER BY 1
),
part_1 AS (
  SELECT
    CAST(DATE_TRUNC('month', customers.d__day) AS DATE) AS period_start,
    COALESCE(COUNT(customers.m__new_customers), 0) AS new_customers
  FROM (
    SELECT
      first_live_order_date AS d__day,
      CASE WHEN (first_live_order_date IS NOT NULL) THEN customer_id END AS m__new_customers
    FROM marts.dim_customers
  ) AS customers
  WHERE customers.d__day IS NOT NULL
  GROUP BY 1
  ORDER BY 1
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
ORDER BY 1
