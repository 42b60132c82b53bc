MODEL (
  name marts.product_performance,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain product_id,
  -- The referential audit reads every order line, cancelled or not; the query itself only
  -- needs the daily sums.
  depends_on (marts.fct_order_items),
  description 'One row per product in the catalogue: orders, units and revenue from orders not cancelled, and its revenue rank within its category.',
  audits (
    not_null(columns := (product_id, product_category, count_orders, count_units, amount_revenue, rank_in_category)),
    unique_values(columns := (product_id)),
    accepted_range(column := amount_revenue, min_v := 0),
    assert_all_referenced(referencing_model := marts.fct_order_items, referencing_column := product_id, key_column := product_id),
    assert_sum_matches(column := amount_revenue, source_model := marts.product_daily_sales),
    assert_sum_matches(column := count_units, source_model := marts.product_daily_sales)
  )
);

WITH products AS (
  SELECT product_id, product_name, product_category
  FROM marts.dim_products
),

daily_sales AS (
  SELECT product_id, count_orders, count_units, amount_revenue
  FROM marts.product_daily_sales
),

sales AS (
  SELECT
    product_id,
    sum(count_orders) AS count_orders,
    sum(count_units) AS count_units,
    sum(amount_revenue) AS amount_revenue
  FROM daily_sales
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
