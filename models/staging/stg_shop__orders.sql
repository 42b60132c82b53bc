MODEL (
  name staging.stg_shop__orders,
  kind FULL,
  owner data_platform,
  grain order_id,
  description 'One row per order ever seen in the shop source: the latest version of each, soft deletes flagged.',
  audits (
    not_null(columns := (order_id, customer_id, order_status, ordered_at)),
    unique_values(columns := (order_id)),
    accepted_values(column := order_status, is_in := ('placed', 'paid', 'shipped', 'delivered', 'cancelled'))
  )
);

WITH source AS (
  SELECT id, customer_id, status, ordered_at, updated_at, deleted_at, _dlt_load_id
  FROM raw_shop.orders
),

latest AS (
  SELECT id, customer_id, status, ordered_at, updated_at, deleted_at
  FROM source
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS order_id, -- The source's order id
  customer_id::BIGINT AS customer_id, -- Who placed the order
  status::TEXT AS order_status, -- placed, paid, shipped, delivered or cancelled
  ordered_at::TIMESTAMP AS ordered_at, -- When the order was placed
  updated_at::TIMESTAMP AS updated_at, -- When this version was written in the source
  deleted_at::TIMESTAMP AS deleted_at, -- When the order was voided (soft delete), else NULL
  deleted_at IS NOT NULL AS is_deleted -- True for voided orders
FROM latest
