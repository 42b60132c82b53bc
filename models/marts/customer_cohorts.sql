MODEL (
  name marts.customer_cohorts,
  kind FULL,
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
  SELECT customer_id, cohort_month, months_since_first_order, amount_revenue
  FROM intermediate.int_customer_months_active
),

cohort_sizes AS (
  SELECT cohort_month, count(DISTINCT customer_id) AS count_cohort_customers
  FROM activity
  GROUP BY cohort_month
),

per_month AS (
  SELECT
    cohort_month,
    months_since_first_order,
    count(DISTINCT customer_id) AS count_active_customers,
    sum(amount_revenue) AS amount_revenue
  FROM activity
  GROUP BY cohort_month, months_since_first_order
)

SELECT
  per_month.cohort_month AS cohort_month, -- First day of the month of the customers' first order not cancelled
  per_month.months_since_first_order AS months_since_first_order, -- 0 for the cohort month itself
  cohort_sizes.count_cohort_customers::INTEGER AS count_cohort_customers, -- Customers in the cohort
  per_month.count_active_customers::INTEGER AS count_active_customers, -- Of those, customers with an order not cancelled that month
  (per_month.count_active_customers / cohort_sizes.count_cohort_customers)::DECIMAL(7, 4) AS rate_retention, -- Active share of the cohort (0 to 1)
  per_month.amount_revenue::DECIMAL(14, 2) AS amount_revenue, -- The cohort's revenue that month, in EUR
  (
    sum(per_month.amount_revenue) OVER (
      PARTITION BY per_month.cohort_month ORDER BY per_month.months_since_first_order
    ) / cohort_sizes.count_cohort_customers
  )::DECIMAL(14, 2) AS amount_lifetime_value_per_customer -- Cumulative revenue per cohort customer up to this month, in EUR
FROM per_month
INNER JOIN cohort_sizes
  ON per_month.cohort_month = cohort_sizes.cohort_month
