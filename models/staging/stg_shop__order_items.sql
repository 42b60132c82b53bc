MODEL (
  name staging.stg_shop__order_items,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key order_item_id
  ),
  owner data_platform,
  cron '@daily',
  grain order_item_id,
  description 'One row per order line: the latest version of each order item in the shop source, hard deletes flagged, with the time its order was placed.',
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
  -- only the keys of loads not merged yet (all on a full build), and of the orders they join: a row may land a load before its order
  WHERE @unmerged_keys(raw_shop.order_items, id) OR @unmerged_keys(raw_shop.orders, order_id, id)
),

-- An order's placing time never changes; the marts take its lines by it. Only the orders read above.
orders AS (
  SELECT DISTINCT id AS order_id, ordered_at
  FROM raw_shop.orders
  WHERE id IN (SELECT order_id FROM source)
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
  ordered_at::TIMESTAMP AS ordered_at, -- When its order was placed
  updated_at::TIMESTAMP AS updated_at, -- When this version was written in the source
  _deleted AS is_deleted -- True when it is gone from the source (hard delete)
FROM latest
