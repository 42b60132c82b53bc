MODEL (
  name staging.stg_shop__customers,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key customer_id
  ),
  owner data_platform,
  cron '@daily',
  grain customer_id,
  description 'One row per customer ever seen in the shop source: the latest version of each, soft and hard deletes flagged.',
  audits (
    not_null(columns := (customer_id, customer_email, created_at, updated_at)),
    unique_values(columns := (customer_id))
  )
);

WITH source AS (
  SELECT id, name, email, city, created_at, updated_at, deleted_at, _deleted, _dlt_load_id
  FROM raw_shop.customers
  WHERE @unmerged_keys(raw_shop.customers, id) -- only the keys of loads not merged yet (all on a full build)
),

latest AS (
  SELECT id, name, email, city, created_at, updated_at, deleted_at, _deleted
  FROM source
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS customer_id, -- The source's customer id
  name::TEXT AS customer_name, -- Display name
  email::TEXT AS customer_email, -- Current email address
  city::TEXT AS customer_city, -- Current city
  created_at::TIMESTAMP AS created_at, -- When the account was created
  updated_at::TIMESTAMP AS updated_at, -- When this version was written in the source
  deleted_at::TIMESTAMP AS deleted_at, -- When the account was closed (soft delete), else NULL
  deleted_at IS NOT NULL OR _deleted AS is_deleted -- True for soft-deleted customers and those gone from the source (hard delete)
FROM latest
