MODEL (
  name marts.category_performance,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain product_category,
  description 'One row per product category with sales: orders, units, revenue from orders not cancelled, and its share of all revenue. Each day counts in the category its products had that day: this table sums marts.category_daily_sales, so it reads a few rows per day, not every order line.',
  audits (
    not_null(columns := (product_category, count_products_sold, count_orders, amount_revenue, share_of_revenue)),
    unique_values(columns := (product_category)),
    accepted_range(column := share_of_revenue, min_v := 0, max_v := 1),
    assert_sum_matches(column := amount_revenue, source_model := marts.product_daily_sales),
    assert_sum_matches(column := count_units, source_model := marts.product_daily_sales)
  )
);

WITH days AS (
  SELECT product_category, count_orders, count_units, amount_revenue
  FROM marts.category_daily_sales
),

-- Distinct products do not add up over days: they are counted from the day x product sales.
product_days AS (
  SELECT product_category, product_id
  FROM marts.product_daily_sales
),

products_sold AS (
  SELECT product_category, count(DISTINCT product_id) AS count_products_sold
  FROM product_days
  GROUP BY product_category
),

per_category AS (
  SELECT
    product_category,
    sum(count_orders) AS count_orders,
    sum(count_units) AS count_units,
    sum(amount_revenue) AS amount_revenue
  FROM days
  GROUP BY product_category
)

SELECT
  per_category.product_category AS product_category, -- Merchandising category
  products_sold.count_products_sold::INTEGER AS count_products_sold, -- Distinct products sold in the category
  per_category.count_orders::INTEGER AS count_orders, -- Orders not cancelled with at least one line in the category
  per_category.count_units::INTEGER AS count_units, -- Units sold
  per_category.amount_revenue::DECIMAL(14, 2) AS amount_revenue, -- Line amounts, in EUR
  (per_category.amount_revenue / sum(per_category.amount_revenue) OVER ())::DECIMAL(7, 4) AS share_of_revenue -- Share of all categories' revenue (0 to 1)
FROM per_category
INNER JOIN products_sold
  ON per_category.product_category = products_sold.product_category
