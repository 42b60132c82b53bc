-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
SELECT
  CAST(DATE_TRUNC('day', orders.d__day) AS DATE) AS period_start,
  customers.d__customer_city AS customer_city,
  orders.d__order_status AS order_status,
  COALESCE(SUM(orders.m__revenue), 0) AS revenue,
  COALESCE(COUNT(orders.m__orders), 0) AS orders,
  COALESCE(COUNT(orders.m__orders_placed), 0) AS orders_placed,
  COALESCE(COUNT(orders.m__cancelled_orders), 0) AS cancelled_orders
FROM (
  SELECT
    order_date AS d__day,
    order_status AS d__order_status,
    customer_id AS k__customers,
    CASE WHEN (is_cancelled = false) THEN amount_total END AS m__revenue,
    CASE WHEN (is_cancelled = false) THEN order_id END AS m__orders,
    order_id AS m__orders_placed,
    CASE WHEN (is_cancelled = true) THEN order_id END AS m__cancelled_orders
  FROM marts.fct_orders
) AS orders
LEFT JOIN (
  SELECT customer_id AS k__key, customer_city AS d__customer_city FROM marts.dim_customers
) AS customers
  ON orders.k__customers = customers.k__key
WHERE orders.d__day IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
