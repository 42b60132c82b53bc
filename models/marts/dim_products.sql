MODEL (
  name marts.dim_products,
  kind FULL,
  owner analytics,
  cron '@daily',
  grain product_id,
  description 'One row per product in the catalogue: its name, category and current list price.',
  audits (
    not_null(columns := (product_id, product_name, product_category, amount_price)),
    unique_values(columns := (product_id)),
    accepted_range(column := amount_price, min_v := 0),
    assert_row_count_between(min_rows := 1, max_rows := 1000000, blocking := false)
  )
);

WITH products AS (
  SELECT product_id, product_name, product_category, amount_price, created_at, updated_at
  FROM staging.stg_shop__products
  WHERE NOT is_deleted
)

SELECT
  product_id, -- The product
  product_name, -- Display name
  product_category, -- Merchandising category
  amount_price, -- Current list price, in EUR
  created_at, -- When the product was listed
  updated_at AS price_updated_at -- When the product (usually its price) last changed
FROM products
