MODEL (
  name marts.product_performance,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain product_id,
  description 'One row per product in the catalogue: orders, units and revenue from orders not cancelled, and its revenue rank within its category.',
  audits (
    not_null(columns := (product_id, product_category, count_orders, count_units, amount_revenue, rank_in_category)),
    unique_values(columns := (product_id)),
    accepted_range(column := amount_revenue, min_v := 0),
    assert_all_referenced(referencing_model := marts.fct_order_items, referencing_column := product_id, key_column := product_id)
  )
);

WITH products AS (
  SELECT product_id, product_name, product_category
  FROM marts.dim_products
),

order_items AS (
  SELECT product_id, order_id, quantity, amount_line
  FROM marts.fct_order_items
  WHERE NOT is_cancelled
),

sales AS (
  SELECT
    product_id,
    count(DISTINCT order_id) AS count_orders,
    sum(quantity) AS count_units,
    sum(amount_line) AS amount_revenue
  FROM order_items
  GROUP BY product_id
)

SELECT
  products.product_id AS product_id, -- The product
  products.product_name AS product_name, -- Display name
  products.product_category AS product_category, -- Merchandising category
  coalesce(sales.count_orders, 0)::INTEGER AS count_orders, -- Orders not cancelled containing it
  coalesce(sales.count_units, 0)::INTEGER AS count_units, -- Units sold in those orders
  coalesce(sales.amount_revenue, 0)::DECIMAL(14, 2) AS amount_revenue, -- Line amounts of those orders, in EUR
  rank() OVER (
    PARTITION BY products.product_category ORDER BY coalesce(sales.amount_revenue, 0) DESC
  )::INTEGER AS rank_in_category -- 1 for the category's best seller by revenue
FROM products
LEFT JOIN sales
  ON products.product_id = sales.product_id
