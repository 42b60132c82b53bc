MODEL (
  name staging.stg_shop__order_items,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column ordered_at,
    -- Engines that partition (Spark) would make a folder per distinct timestamp, and Hive's
    -- metastore refuses TIMESTAMP_NTZ partitions; DuckDB ignores partitioning either way.
    partition_by_time_column false
  ),
  owner data_platform,
  cron '@daily',
  grain order_item_id,
  description 'One row per order line: the latest version of each order item in the shop source, unless it was deleted there (hard delete). Partitioned by the time its order was placed, so that an order and its lines are restated together.',
  audits (
    not_null(columns := (order_item_id, order_id, product_id, quantity, amount_unit_price, ordered_at)),
    unique_values(columns := (order_item_id)),
    accepted_range(column := quantity, min_v := 1),
    accepted_range(column := amount_unit_price, min_v := 0)
  )
);

WITH source AS (
  SELECT id, order_id, product_id, quantity, unit_price, updated_at, _deleted, _dlt_load_id
  FROM raw_shop.order_items
),

-- An order's placing time never changes; it is the partition of its lines.
orders AS (
  SELECT DISTINCT id AS order_id, ordered_at
  FROM raw_shop.orders
  -- The bounds take the column's type, not the column the bounds' type: a cast column hides
  -- the Parquet statistics, and every run would read the whole raw table.
  WHERE ordered_at BETWEEN CAST(@start_ts AS TIMESTAMPTZ) AND CAST(@end_ts AS TIMESTAMPTZ)
),

latest AS (
  SELECT source.id, source.order_id, source.product_id, source.quantity, source.unit_price, source.updated_at, source._deleted, orders.ordered_at
  FROM source
  INNER JOIN orders
    ON source.order_id = orders.order_id
  QUALIFY row_number() OVER (PARTITION BY source.id ORDER BY source.updated_at DESC, source._dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS order_item_id, -- The source's order item id
  order_id::BIGINT AS order_id, -- The order this line belongs to
  product_id::BIGINT AS product_id, -- The product sold
  quantity::INTEGER AS quantity, -- Units sold
  unit_price::DECIMAL(12, 2) AS amount_unit_price, -- Price per unit at the time of sale, in EUR
  ordered_at::TIMESTAMP AS ordered_at, -- When its order was placed; the time partition
  updated_at::TIMESTAMP AS updated_at -- When this version was written in the source
FROM latest
WHERE NOT _deleted
