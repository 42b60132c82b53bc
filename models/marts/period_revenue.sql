-- Two marts from one definition, one per blueprint: marts.weekly_revenue and marts.monthly_revenue.
MODEL (
  name marts.@{cadence}_revenue,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain @{period}_start_date,
  description @description,
  audits (
    not_null(columns := (@{period}_start_date, count_orders_placed, amount_revenue, rate_cancelled)),
    unique_values(columns := (@{period}_start_date)),
    accepted_range(column := rate_cancelled, min_v := 0, max_v := 1),
    accepted_range(column := amount_revenue, min_v := 0),
    assert_sum_matches(column := amount_revenue, source_model := marts.daily_revenue),
    assert_sum_matches(column := count_orders_placed, source_model := marts.daily_revenue)
  ),
  blueprints (
    (
      cadence := weekly,
      period := week,
      description := 'One row per ISO week (Monday to Sunday) from the first to the last order: orders placed, cancellations, revenue, average order value and cancellation rate.'
    ),
    (
      cadence := monthly,
      period := month,
      description := 'One row per calendar month from the first to the last order: orders placed, cancellations, revenue, average order value and cancellation rate.'
    )
  )
);

WITH days AS (
  SELECT revenue_date, count_orders_placed, count_cancelled_orders, amount_revenue
  FROM marts.daily_revenue
),

calendar AS (
  SELECT calendar_date, @{period}_start_date
  FROM staging.stg_ref__calendar
),

per_period AS (
  SELECT
    calendar.@{period}_start_date AS @{period}_start_date,
    sum(days.count_orders_placed) AS count_orders_placed,
    sum(days.count_cancelled_orders) AS count_cancelled_orders,
    sum(days.amount_revenue) AS amount_revenue
  FROM days
  INNER JOIN calendar
    ON days.revenue_date = calendar.calendar_date
  GROUP BY calendar.@{period}_start_date
)

SELECT
  @{period}_start_date, -- First day of the period
  count_orders_placed::INTEGER AS count_orders_placed, -- Orders placed, cancelled or not
  count_cancelled_orders::INTEGER AS count_cancelled_orders, -- Of those, cancelled since
  amount_revenue::DECIMAL(14, 2) AS amount_revenue, -- Totals of orders not cancelled, in EUR
  CASE
    WHEN count_orders_placed > count_cancelled_orders
    THEN (amount_revenue / (count_orders_placed - count_cancelled_orders))::DECIMAL(14, 2)
  END AS amount_average_order_value, -- Revenue per order not cancelled, in EUR; NULL without one
  CASE
    WHEN count_orders_placed > 0 THEN (count_cancelled_orders / count_orders_placed)::DECIMAL(7, 4) ELSE 0
  END::DECIMAL(7, 4) AS rate_cancelled -- Share of the period's orders that were cancelled (0 to 1)
FROM per_period
