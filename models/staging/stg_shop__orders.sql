MODEL (
  name staging.stg_shop__orders,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column ordered_at,
    -- Engines that partition (Spark) would make a folder per distinct timestamp, and Hive's
    -- metastore refuses TIMESTAMP_NTZ partitions; DuckDB ignores partitioning either way.
    partition_by_time_column false
  ),
  owner data_platform,
  cron '@daily',
  grain order_id,
  description 'One row per order ever seen in the shop source: the latest version of each, soft and hard deletes flagged. Partitioned by the time the order was placed.',
  audits (
    not_null(columns := (order_id, customer_id, order_status, ordered_at)),
    unique_values(columns := (order_id)),
    accepted_values(column := order_status, is_in := ('placed', 'paid', 'shipped', 'delivered', 'cancelled'))
  )
);

WITH source AS (
  SELECT id, customer_id, status, ordered_at, updated_at, deleted_at, _deleted, _dlt_load_id
  FROM raw_shop.orders
  -- The bounds take the column's type, not the column the bounds' type: a cast column hides
  -- the Parquet statistics, and every run would read the whole raw table.
  WHERE ordered_at BETWEEN CAST(@start_ts AS TIMESTAMPTZ) AND CAST(@end_ts AS TIMESTAMPTZ)
),

latest AS (
  SELECT id, customer_id, status, ordered_at, updated_at, deleted_at, _deleted
  FROM source
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS order_id, -- The source's order id
  customer_id::BIGINT AS customer_id, -- Who placed the order
  status::TEXT AS order_status, -- placed, paid, shipped, delivered or cancelled
  ordered_at::TIMESTAMP AS ordered_at, -- When the order was placed; the time partition
  updated_at::TIMESTAMP AS updated_at, -- When this version was written in the source
  deleted_at::TIMESTAMP AS deleted_at, -- When the order was voided (soft delete), else NULL
  deleted_at IS NOT NULL OR _deleted AS is_deleted -- True for voided orders and those gone from the source (hard delete)
FROM latest
