MODEL (
  name intermediate.int_orders_totalled,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column ordered_at,
    -- Engines that partition (Spark) would make a folder per distinct timestamp, and Hive's
    -- metastore refuses TIMESTAMP_NTZ partitions; DuckDB ignores partitioning either way.
    partition_by_time_column false
  ),
  owner data_platform,
  cron '@daily',
  grain order_id,
  description 'One row per live (not voided) order, with the totals of its items and payments.',
  audits (
    not_null(columns := (order_id, customer_id, amount_total, amount_paid)),
    unique_values(columns := (order_id)),
    accepted_range(column := amount_total, min_v := 0),
    accepted_range(column := amount_paid, min_v := 0)
  )
);

WITH orders AS (
  SELECT order_id, customer_id, order_status, ordered_at
  FROM staging.stg_shop__orders
  WHERE NOT is_deleted
    AND ordered_at BETWEEN @start_ts AND @end_ts
),

order_items AS (
  SELECT order_id, quantity, amount_unit_price
  FROM staging.stg_shop__order_items
  WHERE ordered_at BETWEEN @start_ts AND @end_ts AND NOT is_deleted
),

payments AS (
  SELECT order_id, amount_paid
  FROM staging.stg_shop__payments
  WHERE ordered_at BETWEEN @start_ts AND @end_ts AND NOT is_deleted
),

item_totals AS (
  SELECT
    order_id,
    sum(quantity * amount_unit_price) AS amount_total,
    count(*) AS count_items,
    sum(quantity) AS count_units
  FROM order_items
  GROUP BY order_id
),

payment_totals AS (
  SELECT order_id, sum(amount_paid) AS amount_paid
  FROM payments
  GROUP BY order_id
)

SELECT
  orders.order_id AS order_id, -- The order
  orders.customer_id AS customer_id, -- Who placed it
  orders.order_status AS order_status, -- Its current status
  orders.ordered_at AS ordered_at, -- When it was placed; the time partition
  coalesce(item_totals.amount_total, 0)::DECIMAL(14, 2) AS amount_total, -- Sum of quantity x unit price, in EUR
  coalesce(item_totals.count_items, 0)::INTEGER AS count_items, -- Number of order lines
  coalesce(item_totals.count_units, 0)::INTEGER AS count_units, -- Number of units
  coalesce(payment_totals.amount_paid, 0)::DECIMAL(14, 2) AS amount_paid -- Sum of payments taken, in EUR
FROM orders
LEFT JOIN item_totals
  ON orders.order_id = item_totals.order_id
LEFT JOIN payment_totals
  ON orders.order_id = payment_totals.order_id
