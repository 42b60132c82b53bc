MODEL (
  name marts.payment_method_mix,
  kind FULL,
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
  paid_month, -- First day of the month the payments were taken
  payment_method, -- card, paypal, bank_transfer or gift_card
  count_payments::INTEGER AS count_payments, -- Payments taken
  amount_paid::DECIMAL(14, 2) AS amount_paid, -- Their amount, in EUR
  (amount_paid / sum(amount_paid) OVER (PARTITION BY paid_month))::DECIMAL(7, 4) AS share_of_amount -- Share of the month's amount paid (0 to 1)
FROM per_method
