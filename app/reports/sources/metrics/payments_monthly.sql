-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.
WITH payments_cte AS (
  SELECT
    amount_paid AS amount_paid_raw,
    CAST(DATE_TRUNC('DAY', CAST(paid_at AS DATE)) AS DATE) AS paid_date,
    CAST(DATE_TRUNC('MONTH', CAST(paid_at AS DATE)) AS DATE) AS paid_date__month,
    payment_method AS payment_method,
    payment_id AS payments_raw
  FROM marts.fct_payments
  WHERE
    NOT CAST(paid_at AS DATE) IS NULL
)
SELECT
  payments_cte.paid_date__month AS period_start,
  payments_cte.payment_method AS payment_method,
  COALESCE(SUM(payments_cte.amount_paid_raw), 0) AS amount_paid,
  COALESCE(COUNT(payments_cte.payments_raw), 0) AS payments
FROM payments_cte
GROUP BY
  1,
  2
ORDER BY
  period_start NULLS FIRST,
  payment_method NULLS FIRST
