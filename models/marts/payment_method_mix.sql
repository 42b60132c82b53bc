MODEL (
  name marts.payment_method_mix,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column paid_month,
    partition_by_time_column false
  ),
  -- Intervals are months: a restated day rebuilds its whole month (a share is of the month's
  -- amount), from every payment taken that month; the current month is built partially each day.
  interval_unit month,
  allow_partials true,
  owner analytics,
  cron '@daily',
  grain (paid_month, payment_method),
  description 'One row per month and payment method used that month: payments, amount and the method''s share of the month''s amount.',
  audits (
    not_null(columns := (paid_month, payment_method, count_payments, amount_paid, share_of_amount)),
    unique_combination_of_columns(columns := (paid_month, payment_method)),
    accepted_range(column := share_of_amount, min_v := 0, max_v := 1)
  )
);

WITH payments AS (
  SELECT paid_date, payment_method, amount_paid
  FROM marts.fct_payments
  -- By the day paid, not the order's time, so that a restated month counts the payments of older
  -- orders taken in it too. A changed payment is taken after its order was placed, so within the
  -- restated months (marts.fct_payments warns of one that is not).
  WHERE paid_date BETWEEN @start_ds AND @end_ds
),

per_method AS (
  SELECT
    date_trunc('month', paid_date)::DATE AS paid_month,
    payment_method,
    count(*) AS count_payments,
    sum(amount_paid) AS amount_paid
  FROM payments
  GROUP BY date_trunc('month', paid_date)::DATE, payment_method
)

SELECT
  paid_month, -- First day of the month the payments were taken; the time partition
  payment_method, -- card, paypal, bank_transfer or gift_card
  count_payments::INTEGER AS count_payments, -- Payments taken
  amount_paid::DECIMAL(14, 2) AS amount_paid, -- Their amount, in EUR
  (amount_paid / sum(amount_paid) OVER (PARTITION BY paid_month))::DECIMAL(7, 4) AS share_of_amount -- Share of the month's amount paid (0 to 1)
FROM per_method
