MODEL (
  name marts.fct_orders,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column ordered_at,
    -- Engines that partition (Spark) would make a folder per distinct timestamp, and Hive's
    -- metastore refuses TIMESTAMP_NTZ partitions; DuckDB ignores partitioning either way.
    partition_by_time_column false
  ),
  owner analytics,
  cron '@daily',
  grain order_id,
  description 'One row per live order: its status, total, item count and amount paid.',
  audits (
    not_null(columns := (order_id, customer_id, order_date, amount_total)),
    unique_values(columns := (order_id)),
    accepted_range(column := amount_total, min_v := 0),
    accepted_values(column := order_status, is_in := ('placed', 'paid', 'shipped', 'delivered', 'cancelled'))
  )
);

WITH orders AS (
  SELECT order_id, customer_id, order_status, ordered_at, amount_total, count_items, count_units, amount_paid
  FROM intermediate.int_orders_totalled
  WHERE ordered_at BETWEEN @start_ts AND @end_ts
)

SELECT
  order_id, -- The order
  customer_id, -- Who placed it; joins marts.dim_customers
  order_status, -- placed, paid, shipped, delivered or cancelled
  ordered_at, -- When it was placed; the time partition
  ordered_at::DATE AS order_date, -- The day it was placed
  amount_total, -- Order total (sum of its lines), in EUR
  count_items, -- Number of order lines
  count_units, -- Number of units
  amount_paid, -- Amount paid so far, in EUR
  order_status = 'cancelled' AS is_cancelled -- True when the order was cancelled
FROM orders
