MODEL (
  name marts.dim_customers,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain customer_id,
  description 'One row per live (not deleted) customer, with lifetime value and first and last order dates.',
  audits (
    not_null(columns := (customer_id, amount_lifetime_value, count_orders)),
    unique_values(columns := (customer_id)),
    accepted_range(column := amount_lifetime_value, min_v := 0),
    assert_all_referenced(referencing_model := marts.fct_orders, referencing_column := customer_id, key_column := customer_id),
    assert_row_count_between(min_rows := 1, max_rows := 100000000)
  )
);

WITH customers AS (
  SELECT customer_id, customer_name, customer_email, customer_city, created_at
  FROM staging.stg_shop__customers
  WHERE NOT is_deleted
),

orders AS (
  SELECT customer_id, order_date, amount_total, is_cancelled
  FROM marts.fct_orders
),

customer_orders AS (
  SELECT
    customer_id,
    count(*) FILTER (WHERE NOT is_cancelled) AS count_orders,
    sum(amount_total) FILTER (WHERE NOT is_cancelled) AS amount_lifetime_value,
    min(order_date) AS first_order_date,
    min(order_date) FILTER (WHERE NOT is_cancelled) AS first_live_order_date,
    max(order_date) AS last_order_date
  FROM orders
  GROUP BY customer_id
)

SELECT
  customers.customer_id AS customer_id, -- The customer
  customers.customer_name AS customer_name, -- Display name
  customers.customer_email AS customer_email, -- Current email address
  customers.customer_city AS customer_city, -- Current city
  customers.created_at AS created_at, -- When the account was created
  coalesce(customer_orders.count_orders, 0)::INTEGER AS count_orders, -- Orders not cancelled
  coalesce(customer_orders.amount_lifetime_value, 0)::DECIMAL(14, 2) AS amount_lifetime_value, -- Sum of totals of orders not cancelled, in EUR
  customer_orders.first_order_date AS first_order_date, -- Day of the first order, cancelled or not
  customer_orders.first_live_order_date AS first_live_order_date, -- Day of the first order not cancelled (the cohorts' first order)
  customer_orders.last_order_date AS last_order_date -- Day of the latest order, cancelled or not
FROM customers
LEFT JOIN customer_orders
  ON customers.customer_id = customer_orders.customer_id
