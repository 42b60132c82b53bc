MODEL (
  name marts.repeat_purchase_rate,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain cohort_month,
  description 'One row per cohort (month of first order not cancelled): customers, customers who ordered again, and the repeat-purchase rate.',
  audits (
    not_null(columns := (cohort_month, count_cohort_customers, count_repeat_customers, rate_repeat_purchase)),
    unique_values(columns := (cohort_month)),
    accepted_range(column := rate_repeat_purchase, min_v := 0, max_v := 1)
  )
);

WITH activity AS (
  SELECT customer_id, cohort_month, count_orders
  FROM intermediate.int_customer_months_active
),

customers AS (
  SELECT customer_id, cohort_month, sum(count_orders) AS count_orders
  FROM activity
  GROUP BY customer_id, cohort_month
),

per_cohort AS (
  SELECT
    cohort_month,
    count(*) AS count_cohort_customers,
    count(*) FILTER (WHERE count_orders >= 2) AS count_repeat_customers
  FROM customers
  GROUP BY cohort_month
)

SELECT
  cohort_month, -- First day of the month of the customers' first order not cancelled
  count_cohort_customers::INTEGER AS count_cohort_customers, -- Customers in the cohort
  count_repeat_customers::INTEGER AS count_repeat_customers, -- Of those, customers with two or more orders not cancelled
  (count_repeat_customers / count_cohort_customers)::DECIMAL(7, 4) AS rate_repeat_purchase -- Repeat share of the cohort (0 to 1)
FROM per_cohort
