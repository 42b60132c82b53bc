MODEL (
  name staging.stg_shop__products_history,
  kind SCD_TYPE_2_BY_TIME (
    unique_key product_id,
    updated_at_name updated_at
  ),
  owner data_platform,
  cron '@daily',
  grain (product_id, valid_from),
  description 'One row per version of a product (SCD type 2): its list price and category, each valid from valid_from until valid_to (NULL for the current version).',
  column_descriptions (
    product_id = 'The source''s product id',
    product_category = 'Merchandising category in this version',
    amount_price = 'List price in this version, in EUR',
    updated_at = 'When this version was written in the source',
    valid_from = 'When this version became current (1970-01-01 for the versions present at the first build)',
    valid_to = 'When the next version replaced it; NULL for the current version'
  ),
  audits (
    not_null(columns := (product_id, product_category, amount_price, updated_at)),
    unique_combination_of_columns(columns := (product_id, updated_at)),
    accepted_range(column := amount_price, min_v := 0)
  )
);

-- Not `source` / `latest`: on Spark, SQLMesh's SCD type 2 merge adds CTEs of those names beside ours.
WITH product_versions AS (
  SELECT id, category, price, updated_at, _dlt_load_id
  FROM raw_shop.products
),

current_products AS (
  SELECT id, category, price, updated_at
  FROM product_versions
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS product_id,
  category::TEXT AS product_category,
  price::DECIMAL(12, 2) AS amount_price,
  updated_at::TIMESTAMP AS updated_at
FROM current_products
