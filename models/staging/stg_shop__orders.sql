MODEL (
  name staging.stg_shop__orders,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key order_id
  ),
  owner data_platform,
  cron '@daily',
  grain order_id,
  description 'One row per order ever seen in the shop source: the latest version of each, soft and hard deletes flagged.',
  audits (
    not_null(columns := (order_id, customer_id, order_status, ordered_at)),
    unique_values(columns := (order_id)),
    accepted_values(column := order_status, is_in := ('placed', 'paid', 'shipped', 'delivered', 'cancelled'))
  )
);

WITH source AS (
  SELECT id, customer_id, status, ordered_at, updated_at, deleted_at, _deleted, _dlt_load_id
  FROM raw_shop.orders
  WHERE @unmerged_keys(raw_shop.orders, id) -- only the keys of loads not merged yet (all on a full build)
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
  ordered_at::TIMESTAMP AS ordered_at, -- When the order was placed
  updated_at::TIMESTAMP AS updated_at, -- When this version was written in the source
  deleted_at::TIMESTAMP AS deleted_at, -- When the order was voided (soft delete), else NULL
  deleted_at IS NOT NULL OR _deleted AS is_deleted -- True for voided orders and those gone from the source (hard delete)
FROM latest
