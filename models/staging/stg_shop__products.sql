MODEL (
  name staging.stg_shop__products,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key product_id
  ),
  owner data_platform,
  cron '@daily',
  grain product_id,
  description 'One row per product: the latest version of each product in the shop source, hard deletes flagged.',
  audits (
    not_null(columns := (product_id, product_category, amount_price)),
    unique_values(columns := (product_id)),
    accepted_range(column := amount_price, min_v := 0)
  )
);

WITH source AS (
  SELECT id, name, category, price, created_at, updated_at, _deleted, _dlt_load_id
  FROM raw_shop.products
  WHERE @unmerged_keys(raw_shop.products, id) -- only the keys of loads not merged yet (all on a full build)
),

latest AS (
  SELECT id, name, category, price, created_at, updated_at, _deleted
  FROM source
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS product_id, -- The source's product id
  name::TEXT AS product_name, -- Display name
  category::TEXT AS product_category, -- Merchandising category
  price::DECIMAL(12, 2) AS amount_price, -- Current list price, in EUR
  created_at::TIMESTAMP AS created_at, -- When the product was listed
  updated_at::TIMESTAMP AS updated_at, -- When this version was written in the source
  _deleted AS is_deleted -- True for products gone from the source (hard delete)
FROM latest
