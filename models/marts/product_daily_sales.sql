MODEL (
  name marts.product_daily_sales,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date,
    partition_by_time_column false
  ),
  owner analytics,
  cron '@daily',
  grain (order_date, product_id),
  description 'One row per day and product sold that day in orders not cancelled: orders, units and revenue. Pages that rank products or trend categories over a period sum these rows instead of scanning every order line.',
  audits (
    not_null(columns := (order_date, product_id, count_orders, count_units, amount_revenue)),
    unique_combination_of_columns(columns := (order_date, product_id)),
    accepted_range(column := count_orders, min_v := 1),
    accepted_range(column := amount_revenue, min_v := 0)
  )
);

WITH order_items AS (
  SELECT order_date, product_id, order_id, quantity, amount_line
  FROM marts.fct_order_items
  WHERE order_date BETWEEN @start_ds AND @end_ds AND NOT is_cancelled
)

SELECT
  order_date, -- The day the orders were placed; the time partition
  product_id, -- The product; joins marts.dim_products
  count(DISTINCT order_id)::INTEGER AS count_orders, -- Orders of that day containing it (an order has one day, so these add up over days)
  sum(quantity)::INTEGER AS count_units, -- Units sold in those orders
  sum(amount_line)::DECIMAL(14, 2) AS amount_revenue -- Line amounts of those orders, in EUR
FROM order_items
GROUP BY order_date, product_id
