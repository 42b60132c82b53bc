MODEL (
  name marts.category_performance,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain product_category,
  description 'One row per product category with sales: orders, units, revenue from orders not cancelled, and its share of all revenue.',
  audits (
    not_null(columns := (product_category, count_orders, amount_revenue, share_of_revenue)),
    unique_values(columns := (product_category)),
    accepted_range(column := share_of_revenue, min_v := 0, max_v := 1)
  )
);

WITH order_items AS (
  SELECT product_id, order_id, quantity, amount_line
  FROM marts.fct_order_items
  WHERE NOT is_cancelled
),

products AS (
  SELECT product_id, product_category
  FROM marts.dim_products
),

per_category AS (
  SELECT
    products.product_category AS product_category,
    count(DISTINCT order_items.product_id) AS count_products_sold,
    count(DISTINCT order_items.order_id) AS count_orders,
    sum(order_items.quantity) AS count_units,
    sum(order_items.amount_line) AS amount_revenue
  FROM order_items
  INNER JOIN products
    ON order_items.product_id = products.product_id
  GROUP BY products.product_category
)

SELECT
  product_category, -- Merchandising category
  count_products_sold::INTEGER AS count_products_sold, -- Distinct products sold
  count_orders::INTEGER AS count_orders, -- Orders not cancelled with at least one line in the category
  count_units::INTEGER AS count_units, -- Units sold
  amount_revenue::DECIMAL(14, 2) AS amount_revenue, -- Line amounts, in EUR
  (amount_revenue / sum(amount_revenue) OVER ())::DECIMAL(7, 4) AS share_of_revenue -- Share of all categories' revenue (0 to 1)
FROM per_category
