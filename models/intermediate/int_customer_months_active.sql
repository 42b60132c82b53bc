MODEL (
  name intermediate.int_customer_months_active,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_month,
    partition_by_time_column false
  ),
  -- Intervals are months, so a restated day rebuilds its whole month; the current month is
  -- built partially each day.
  interval_unit month,
  allow_partials true,
  owner analytics,
  cron '@daily',
  grain (customer_id, order_month),
  description 'One row per customer and calendar month in which they placed at least one order not cancelled, with their cohort (month of first such order). Built month by month: a customer''s cohort comes from their earlier orders too, so a restated month costs only that month.',
  audits (
    not_null(columns := (customer_id, order_month, cohort_month, months_since_first_order)),
    unique_combination_of_columns(columns := (customer_id, order_month)),
    accepted_range(column := months_since_first_order, min_v := 0),
    accepted_range(column := count_orders, min_v := 1)
  )
);

WITH orders AS (
  SELECT customer_id, ordered_at, amount_total
  FROM intermediate.int_orders_totalled
  WHERE ordered_at BETWEEN @start_ts AND @end_ts AND order_status <> 'cancelled'
),

order_months AS (
  SELECT
    customer_id,
    date_trunc('month', ordered_at)::DATE AS order_month,
    count(*) AS count_orders,
    sum(amount_total) AS amount_revenue
  FROM orders
  GROUP BY customer_id, date_trunc('month', ordered_at)::DATE
),

-- The same customers' orders before these months: a customer seen before keeps that cohort.
earlier_months AS (
  SELECT customer_id, date_trunc('month', min(ordered_at))::DATE AS order_month
  FROM intermediate.int_orders_totalled
  WHERE ordered_at < @start_ts
    AND order_status <> 'cancelled'
    AND customer_id IN (SELECT customer_id FROM order_months)
  GROUP BY customer_id
),

cohorts AS (
  SELECT customer_id, min(order_month) AS cohort_month
  FROM (
    SELECT customer_id, order_month FROM order_months
    UNION ALL
    SELECT customer_id, order_month FROM earlier_months
  ) AS months
  GROUP BY customer_id
)

SELECT
  order_months.customer_id AS customer_id, -- The customer
  order_months.order_month AS order_month, -- First day of the month with orders; the time partition
  cohorts.cohort_month AS cohort_month, -- First day of the month of the customer's first order not cancelled
  date_diff('month', cohorts.cohort_month, order_months.order_month)::INTEGER AS months_since_first_order, -- 0 for the cohort month itself
  order_months.count_orders::INTEGER AS count_orders, -- Orders not cancelled placed that month
  order_months.amount_revenue::DECIMAL(14, 2) AS amount_revenue -- Their totals, in EUR
FROM order_months
INNER JOIN cohorts
  ON order_months.customer_id = cohorts.customer_id
