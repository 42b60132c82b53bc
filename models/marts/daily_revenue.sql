MODEL (
  name marts.daily_revenue,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain revenue_date,
  description 'One row per day from the first to the last order: orders placed, cancellations, revenue and new customers (first order not cancelled, as the metric new_customers).',
  audits (
    not_null(columns := (revenue_date, count_orders_placed, amount_revenue, count_new_customers)),
    unique_values(columns := (revenue_date)),
    accepted_range(column := amount_revenue, min_v := 0),
    assert_revenue_reconciles(orders_model := marts.fct_orders),
    assert_fresh(date_column := revenue_date, source_model := raw_shop.orders, source_time_column := ordered_at, max_lag_days := 1, blocking := false)
  )
);

WITH orders AS (
  SELECT customer_id, order_date, amount_total, is_cancelled
  FROM marts.fct_orders
),

bounds AS (
  SELECT min(order_date) AS first_date, max(order_date) AS last_date
  FROM orders
),

-- The set-returning function stands alone in its SELECT, so that it transpiles to
-- Spark's EXPLODE(SEQUENCE(...)), which may not be nested in a cast.
day_series AS (
  SELECT unnest(generate_series(first_date, last_date, INTERVAL 1 DAY)) AS revenue_day
  FROM bounds
),

days AS (
  SELECT revenue_day::DATE AS revenue_date
  FROM day_series
),

per_day AS (
  SELECT
    order_date,
    count(*) AS count_orders_placed,
    count(*) FILTER (WHERE is_cancelled) AS count_cancelled_orders,
    coalesce(sum(amount_total) FILTER (WHERE NOT is_cancelled), 0) AS amount_revenue
  FROM orders
  GROUP BY order_date
),

-- A customer is new on the day of their first order not cancelled (the metric new_customers).
first_orders AS (
  SELECT customer_id, min(order_date) AS first_order_date
  FROM orders
  WHERE NOT is_cancelled
  GROUP BY customer_id
),

new_customers AS (
  SELECT first_order_date, count(*) AS count_new_customers
  FROM first_orders
  GROUP BY first_order_date
)

SELECT
  days.revenue_date AS revenue_date, -- The day
  coalesce(per_day.count_orders_placed, 0)::INTEGER AS count_orders_placed, -- Orders placed that day, cancelled or not
  coalesce(per_day.count_cancelled_orders, 0)::INTEGER AS count_cancelled_orders, -- Of those, cancelled since
  coalesce(per_day.amount_revenue, 0)::DECIMAL(14, 2) AS amount_revenue, -- Totals of that day's orders not cancelled, in EUR
  CASE
    WHEN per_day.count_orders_placed > per_day.count_cancelled_orders
    THEN (per_day.amount_revenue / (per_day.count_orders_placed - per_day.count_cancelled_orders))::DECIMAL(14, 2)
  END AS amount_average_order_value, -- Revenue per order not cancelled, in EUR; NULL on days without one
  coalesce(new_customers.count_new_customers, 0)::INTEGER AS count_new_customers -- Customers whose first order not cancelled was placed that day
FROM days
LEFT JOIN per_day
  ON days.revenue_date = per_day.order_date
LEFT JOIN new_customers
  ON days.revenue_date = new_customers.first_order_date
