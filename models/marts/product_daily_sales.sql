MODEL (
  name marts.product_daily_sales,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date,
    partition_by_time_column false
  ),
  owner analytics,
  cron '@daily',
  grain (order_date, product_id),
  description 'One row per day and product sold that day in orders not cancelled: orders, units, revenue, and the category the product had when the day began (its version in staging.stg_shop__products_history). Pages that rank products or trend categories over a period sum these rows instead of scanning every order line.',
  audits (
    not_null(columns := (order_date, product_id, product_category, count_orders, count_units, amount_revenue)),
    unique_combination_of_columns(columns := (order_date, product_id)),
    accepted_range(column := count_orders, min_v := 1),
    accepted_range(column := amount_revenue, min_v := 0)
  )
);

WITH order_items AS (
  SELECT order_date, product_id, order_id, quantity, amount_line
  FROM marts.fct_order_items
  WHERE order_date BETWEEN @start_ds AND @end_ds AND NOT is_cancelled
),

product_versions AS (
  SELECT product_id, product_category, valid_from, valid_to
  FROM staging.stg_shop__products_history
),

per_product AS (
  SELECT
    order_date,
    product_id,
    count(DISTINCT order_id) AS count_orders,
    sum(quantity) AS count_units,
    sum(amount_line) AS amount_revenue
  FROM order_items
  GROUP BY order_date, product_id
)

SELECT
  per_product.order_date AS order_date, -- The day the orders were placed; the time partition
  per_product.product_id AS product_id, -- The product; joins marts.dim_products
  product_versions.product_category AS product_category, -- Its category when the day began, so a past day keeps the category it was sold under
  per_product.count_orders::INTEGER AS count_orders, -- Orders of that day containing it (an order has one day, so these add up over days)
  per_product.count_units::INTEGER AS count_units, -- Units sold in those orders
  per_product.amount_revenue::DECIMAL(14, 2) AS amount_revenue -- Line amounts of those orders, in EUR
FROM per_product
LEFT JOIN product_versions
  ON per_product.product_id = product_versions.product_id
  AND product_versions.valid_from <= per_product.order_date::TIMESTAMP
  AND (product_versions.valid_to IS NULL OR product_versions.valid_to > per_product.order_date::TIMESTAMP)
