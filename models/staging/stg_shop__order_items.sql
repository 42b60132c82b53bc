MODEL (
  name staging.stg_shop__order_items,
  kind FULL,
  owner data_platform,
  grain order_item_id,
  description 'One row per order line: the latest version of each order item in the shop source.',
  audits (
    not_null(columns := (order_item_id, order_id, product_id, quantity, amount_unit_price)),
    unique_values(columns := (order_item_id)),
    accepted_range(column := quantity, min_v := 1),
    accepted_range(column := amount_unit_price, min_v := 0)
  )
);

WITH source AS (
  SELECT id, order_id, product_id, quantity, unit_price, updated_at, _dlt_load_id
  FROM raw_shop.order_items
),

latest AS (
  SELECT id, order_id, product_id, quantity, unit_price, updated_at
  FROM source
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS order_item_id, -- The source's order item id
  order_id::BIGINT AS order_id, -- The order this line belongs to
  product_id::BIGINT AS product_id, -- The product sold
  quantity::INTEGER AS quantity, -- Units sold
  unit_price::DECIMAL(12, 2) AS amount_unit_price, -- Price per unit at the time of sale, in EUR
  updated_at::TIMESTAMP AS updated_at -- When this version was written in the source
FROM latest
