-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH part_0 AS (
  WITH customers_cte AS (
    SELECT
      customer_city AS customer_city,
      customer_id AS customer_id
    FROM marts.dim_customers
  ), orders_cte AS (
    SELECT
      customer_id AS customer_id,
      is_cancelled AS is_cancelled,
      order_id AS order_id,
      CASE WHEN is_cancelled = FALSE THEN order_id ELSE NULL END AS orders_raw,
      CASE WHEN is_cancelled = FALSE THEN amount_total ELSE NULL END AS revenue_raw
    FROM marts.fct_orders
  )
  SELECT
    customers_cte.customer_city AS customer_city,
    COALESCE(SUM(orders_cte.revenue_raw), 0) AS revenue,
    COALESCE(COUNT(orders_cte.orders_raw), 0) AS orders,
    (
      COALESCE(SUM(orders_cte.revenue_raw), 0)
    ) / NULLIF(COALESCE(COUNT(orders_cte.orders_raw), 0), 0) AS average_order_value
  FROM customers_cte
  LEFT JOIN orders_cte
    ON customers_cte.customer_id = orders_cte.customer_id
  GROUP BY
    1
  ORDER BY
    customer_city NULLS FIRST
), part_1 AS (
  WITH customers_cte AS (
    SELECT
      customer_city AS customer_city,
      customer_id AS customer_id
    FROM marts.dim_customers
  ), ordering_customers_cte AS (
    SELECT
      customer_id AS customer_id,
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
    customers_cte.customer_city AS customer_city,
    COALESCE(COUNT(DISTINCT ordering_customers_cte.customers_raw), 0) AS customers
  FROM customers_cte
  LEFT JOIN ordering_customers_cte
    ON customers_cte.customer_id = ordering_customers_cte.customer_id
  GROUP BY
    1
  ORDER BY
    customer_city NULLS FIRST
)
SELECT
  COALESCE(part_0.customer_city, part_1.customer_city) AS customer_city,
  part_0.revenue AS revenue,
  part_0.orders AS orders,
  part_0.average_order_value AS average_order_value,
  part_1.customers AS customers
FROM part_0
FULL JOIN part_1
  ON part_0.customer_city IS NOT DISTINCT FROM part_1.customer_city
ORDER BY
  1
