MODEL (
  name marts.fct_order_items,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column ordered_at,
    -- Engines that partition (Spark) would make a folder per distinct timestamp, and Hive's
    -- metastore refuses TIMESTAMP_NTZ partitions; DuckDB ignores partitioning either way.
    partition_by_time_column false
  ),
  owner analytics,
  cron '@daily',
  grain order_item_id,
  description 'One row per line of a live order: product, quantity, price and line amount, with the order''s customer, day and status.',
  audits (
    not_null(columns := (order_item_id, order_id, customer_id, product_id, order_date, amount_line)),
    unique_values(columns := (order_item_id)),
    accepted_range(column := quantity, min_v := 1),
    accepted_range(column := amount_line, min_v := 0),
    assert_order_totals_match_items(orders_model := marts.fct_orders)
  )
);

WITH order_items AS (
  SELECT order_item_id, order_id, product_id, quantity, amount_unit_price, ordered_at
  FROM staging.stg_shop__order_items
  WHERE ordered_at BETWEEN @start_ts AND @end_ts AND NOT is_deleted
),

orders AS (
  SELECT order_id, customer_id, order_date, is_cancelled
  FROM marts.fct_orders
  WHERE ordered_at BETWEEN @start_ts AND @end_ts
)

SELECT
  order_items.order_item_id AS order_item_id, -- The order line
  order_items.order_id AS order_id, -- Its order; joins marts.fct_orders
  orders.customer_id AS customer_id, -- Who placed the order; joins marts.dim_customers
  order_items.product_id AS product_id, -- The product sold; joins marts.dim_products
  order_items.ordered_at AS ordered_at, -- When the order was placed; the time partition
  orders.order_date AS order_date, -- The day the order was placed
  order_items.quantity AS quantity, -- Units sold
  order_items.amount_unit_price AS amount_unit_price, -- Price per unit at the time of sale, in EUR
  (order_items.quantity * order_items.amount_unit_price)::DECIMAL(14, 2) AS amount_line, -- Quantity x unit price, in EUR
  orders.is_cancelled AS is_cancelled -- True when the order was cancelled
FROM order_items
INNER JOIN orders
  ON order_items.order_id = orders.order_id
