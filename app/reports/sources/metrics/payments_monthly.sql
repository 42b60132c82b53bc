-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
SELECT
  CAST(DATE_TRUNC('month', payments.d__day) AS DATE) AS period_start,
  payments.d__payment_method AS payment_method,
  COALESCE(SUM(payments.m__amount_paid), 0) AS amount_paid,
  COALESCE(COUNT(payments.m__payments), 0) AS payments
FROM (
  SELECT
    paid_at::DATE AS d__day,
    payment_method AS d__payment_method,
    amount_paid AS m__amount_paid,
    payment_id AS m__payments
  FROM marts.fct_payments
) AS payments
WHERE payments.d__day IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
