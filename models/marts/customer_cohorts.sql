MODEL (
  name marts.customer_cohorts,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_month,
    partition_by_time_column false
  ),
  -- Built month by month, like intermediate.int_customer_months_active: a restated day rebuilds
  -- the rows of its month and later; a cohort's size and earlier revenue come from its other rows.
  interval_unit month,
  allow_partials true,
  owner analytics,
  cron '@daily',
  grain (cohort_month, months_since_first_order),
  description 'One row per cohort (month of first order) and month since that first order: active customers, retention and cumulative value per customer.',
  audits (
    not_null(columns := (cohort_month, months_since_first_order, count_cohort_customers, count_active_customers)),
    unique_combination_of_columns(columns := (cohort_month, months_since_first_order)),
    accepted_range(column := rate_retention, min_v := 0, max_v := 1),
    accepted_range(column := amount_lifetime_value_per_customer, min_v := 0)
  )
);

WITH activity AS (
  SELECT cohort_month, months_since_first_order, order_month, amount_revenue
  FROM intermediate.int_customer_months_active
  WHERE order_month BETWEEN @start_ds AND @end_ds
),

-- These cohorts, read once: their size (a customer's first month with an order not cancelled is
-- their cohort month, one row each there) and their revenue in the months before the range,
-- where their lifetime value starts.
cohorts AS (
  SELECT
    cohort_month,
    count(*) FILTER (WHERE months_since_first_order = 0) AS count_cohort_customers,
    coalesce(sum(amount_revenue) FILTER (WHERE order_month < @start_ds), 0) AS amount_revenue_before
  FROM intermediate.int_customer_months_active
  WHERE cohort_month IN (SELECT cohort_month FROM activity)
  GROUP BY cohort_month
),

-- The grain of the customer months is (customer, month): a row is an active customer.
per_month AS (
  SELECT
    cohort_month,
    months_since_first_order,
    order_month,
    count(*) AS count_active_customers,
    sum(amount_revenue) AS amount_revenue
  FROM activity
  GROUP BY cohort_month, months_since_first_order, order_month
)

SELECT
  per_month.cohort_month AS cohort_month, -- First day of the month of the customers' first order not cancelled
  per_month.months_since_first_order AS months_since_first_order, -- 0 for the cohort month itself
  per_month.order_month AS order_month, -- First day of the month counted (the cohort month plus the months since); the time partition
  cohorts.count_cohort_customers::INTEGER AS count_cohort_customers, -- Customers in the cohort
  per_month.count_active_customers::INTEGER AS count_active_customers, -- Of those, customers with an order not cancelled that month
  (per_month.count_active_customers / cohorts.count_cohort_customers)::DECIMAL(7, 4) AS rate_retention, -- Active share of the cohort (0 to 1)
  per_month.amount_revenue::DECIMAL(14, 2) AS amount_revenue, -- The cohort's revenue that month, in EUR
  (
    (
      cohorts.amount_revenue_before
      + sum(per_month.amount_revenue) OVER (PARTITION BY per_month.cohort_month ORDER BY per_month.months_since_first_order)
    ) / cohorts.count_cohort_customers
  )::DECIMAL(14, 2) AS amount_lifetime_value_per_customer -- Cumulative revenue per cohort customer up to this month, in EUR
FROM per_month
INNER JOIN cohorts
  ON per_month.cohort_month = cohorts.cohort_month
