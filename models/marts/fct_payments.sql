MODEL (
  name marts.fct_payments,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column ordered_at,
    -- Engines that partition (Spark) would make a folder per distinct timestamp, and Hive's
    -- metastore refuses TIMESTAMP_NTZ partitions; DuckDB ignores partitioning either way.
    partition_by_time_column false
  ),
  owner analytics,
  cron '@daily',
  grain payment_id,
  description 'One row per payment taken for a live order: method, amount and when it was paid.',
  audits (
    not_null(columns := (payment_id, order_id, customer_id, payment_method, amount_paid, paid_date)),
    unique_values(columns := (payment_id)),
    accepted_range(column := amount_paid, min_v := 0),
    accepted_values(column := payment_method, is_in := ('card', 'paypal', 'bank_transfer', 'gift_card')),
    -- marts.payment_method_mix rebuilds the months from a restatement's start, which is the earliest
    -- changed order's time: a payment taken before its order was placed could fall outside them.
    forall(criteria := (paid_at >= ordered_at), blocking := false)
  )
);

WITH payments AS (
  SELECT payment_id, order_id, payment_method, amount_paid, paid_at, ordered_at
  FROM staging.stg_shop__payments
  WHERE ordered_at BETWEEN @start_ts AND @end_ts AND NOT is_deleted
),

orders AS (
  SELECT order_id, customer_id
  FROM marts.fct_orders
  WHERE ordered_at BETWEEN @start_ts AND @end_ts
)

SELECT
  payments.payment_id AS payment_id, -- The payment
  payments.order_id AS order_id, -- The order paid; joins marts.fct_orders
  orders.customer_id AS customer_id, -- Who paid; joins marts.dim_customers
  payments.payment_method AS payment_method, -- card, paypal, bank_transfer or gift_card
  payments.amount_paid AS amount_paid, -- Amount paid, in EUR
  payments.paid_at AS paid_at, -- When the payment was taken
  payments.paid_at::DATE AS paid_date, -- The day the payment was taken
  payments.ordered_at AS ordered_at -- When the order was placed; the time partition
FROM payments
INNER JOIN orders
  ON payments.order_id = orders.order_id
