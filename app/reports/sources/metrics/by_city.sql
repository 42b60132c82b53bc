-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH customers_cte AS (
  SELECT
    customer_city AS customer_city,
    customer_id AS customer_id
  FROM marts.dim_customers
), orders_cte AS (
  SELECT
    customer_id AS customer_id,
    CASE WHEN is_cancelled = FALSE THEN customer_id ELSE NULL END AS customers_raw,
    is_cancelled AS is_cancelled,
    CAST(DATE_TRUNC('DAY', order_date) AS DATE) AS order_date,
    order_id AS order_id,
    CASE WHEN is_cancelled = FALSE THEN order_id ELSE NULL END AS orders_raw,
    CASE WHEN is_cancelled = FALSE THEN amount_total ELSE NULL END AS revenue_raw
  FROM marts.fct_orders
  WHERE
    NOT order_date IS NULL
)
SELECT
  customers_cte.customer_city AS customer_city,
  COALESCE(SUM(orders_cte.revenue_raw), 0) AS revenue,
  COALESCE(COUNT(orders_cte.orders_raw), 0) AS orders,
  (
    COALESCE(SUM(orders_cte.revenue_raw), 0)
  ) / NULLIF(COALESCE(COUNT(orders_cte.orders_raw), 0), 0) AS average_order_value,
  COALESCE(COUNT(DISTINCT orders_cte.customers_raw), 0) AS customers
FROM customers_cte
INNER JOIN orders_cte
  ON customers_cte.customer_id = orders_cte.customer_id
GROUP BY
  1
ORDER BY
  customer_city NULLS FIRST
