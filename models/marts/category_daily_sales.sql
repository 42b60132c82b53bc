MODEL (
  name marts.category_daily_sales,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date,
    partition_by_time_column false
  ),
  owner analytics,
  cron '@daily',
  grain (order_date, product_category),
  description 'One row per day and product category with sales that day in orders not cancelled: orders, products, units and revenue. A line counts in the category its product had when the day began (product_daily_sales.product_category), so a restated day costs only that day.',
  audits (
    not_null(columns := (order_date, product_category, count_orders, count_products_sold, count_units, amount_revenue)),
    unique_combination_of_columns(columns := (order_date, product_category)),
    accepted_range(column := count_orders, min_v := 1),
    accepted_range(column := amount_revenue, min_v := 0)
  )
);

WITH order_items AS (
  SELECT order_date, product_id, order_id, quantity, amount_line
  FROM marts.fct_order_items
  WHERE order_date BETWEEN @start_ds AND @end_ds AND NOT is_cancelled
),

product_days AS (
  SELECT order_date, product_id, product_category
  FROM marts.product_daily_sales
  WHERE order_date BETWEEN @start_ds AND @end_ds
)

SELECT
  order_items.order_date AS order_date, -- The day the orders were placed; the time partition
  product_days.product_category AS product_category, -- The products' category when the day began
  count(DISTINCT order_items.order_id)::INTEGER AS count_orders, -- Orders of that day with a line in the category (an order has one day, so these add up over days)
  count(DISTINCT order_items.product_id)::INTEGER AS count_products_sold, -- Distinct products of the category sold that day
  sum(order_items.quantity)::INTEGER AS count_units, -- Units sold
  sum(order_items.amount_line)::DECIMAL(14, 2) AS amount_revenue -- Line amounts, in EUR
FROM order_items
INNER JOIN product_days
  ON order_items.order_date = product_days.order_date
  AND order_items.product_id = product_days.product_id
GROUP BY order_items.order_date, product_days.product_category
