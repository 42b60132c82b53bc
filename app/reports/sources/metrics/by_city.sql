-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
SELECT
  customers.d__customer_city AS customer_city,
  COALESCE(SUM(orders.m__revenue), 0) AS revenue,
  COALESCE(COUNT(orders.m__orders), 0) AS orders,
  COALESCE(SUM(orders.m__revenue), 0) / NULLIF(COALESCE(COUNT(orders.m__orders), 0), 0) AS average_order_value,
  COALESCE(COUNT(DISTINCT orders.m__customers), 0) AS customers
FROM (
  SELECT
    order_date AS d__day,
    customer_id AS k__customers,
    CASE WHEN (is_cancelled = false) THEN amount_total END AS m__revenue,
    CASE WHEN (is_cancelled = false) THEN order_id END AS m__orders,
    CASE WHEN (is_cancelled = false) THEN customer_id END AS m__customers
  FROM marts.fct_orders
) AS orders
LEFT JOIN (
  SELECT customer_id AS k__key, customer_city AS d__customer_city FROM marts.dim_customers
) AS customers
  ON orders.k__customers = customers.k__key
WHERE orders.d__day IS NOT NULL
GROUP BY 1
ORDER BY 1
