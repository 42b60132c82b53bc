MODEL (
  name staging.stg_shop__payments,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column ordered_at,
    -- Engines that partition (Spark) would make a folder per distinct timestamp, and Hive's
    -- metastore refuses TIMESTAMP_NTZ partitions; DuckDB ignores partitioning either way.
    partition_by_time_column false
  ),
  owner data_platform,
  cron '@daily',
  grain payment_id,
  description 'One row per payment: the latest version of each payment in the shop source, unless it was deleted there (hard delete). Partitioned by the time its order was placed, so that an order and its payments are restated together.',
  audits (
    not_null(columns := (payment_id, order_id, amount_paid, payment_method, paid_at, ordered_at)),
    unique_values(columns := (payment_id)),
    accepted_range(column := amount_paid, min_v := 0),
    accepted_values(column := payment_method, is_in := ('card', 'paypal', 'bank_transfer', 'gift_card'))
  )
);

WITH source AS (
  SELECT id, order_id, amount, method, paid_at, updated_at, _deleted, _dlt_load_id
  FROM raw_shop.payments
),

-- An order's placing time never changes; it is the partition of its payments.
orders AS (
  SELECT DISTINCT id AS order_id, ordered_at
  FROM raw_shop.orders
  -- The bounds take the column's type, not the column the bounds' type: a cast column hides
  -- the Parquet statistics, and every run would read the whole raw table.
  WHERE ordered_at BETWEEN CAST(@start_ts AS TIMESTAMPTZ) AND CAST(@end_ts AS TIMESTAMPTZ)
),

latest AS (
  SELECT source.id, source.order_id, source.amount, source.method, source.paid_at, source.updated_at, source._deleted, orders.ordered_at
  FROM source
  INNER JOIN orders
    ON source.order_id = orders.order_id
  QUALIFY row_number() OVER (PARTITION BY source.id ORDER BY source.updated_at DESC, source._dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS payment_id, -- The source's payment id
  order_id::BIGINT AS order_id, -- The order paid
  amount::DECIMAL(12, 2) AS amount_paid, -- Amount paid, in EUR
  method::TEXT AS payment_method, -- card, paypal, bank_transfer or gift_card
  paid_at::TIMESTAMP AS paid_at, -- When the payment was taken
  ordered_at::TIMESTAMP AS ordered_at, -- When its order was placed; the time partition
  updated_at::TIMESTAMP AS updated_at -- When this version was written in the source
FROM latest
WHERE NOT _deleted
