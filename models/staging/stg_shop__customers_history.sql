MODEL (
  name staging.stg_shop__customers_history,
  kind SCD_TYPE_2_BY_TIME (
    unique_key customer_id,
    updated_at_name updated_at
  ),
  owner data_platform,
  cron '@daily',
  grain (customer_id, valid_from),
  description 'One row per version of a customer (SCD type 2): email, city and account status, each valid from valid_from until valid_to (NULL for the current version).',
  column_descriptions (
    customer_id = 'The source''s customer id',
    customer_email = 'Email address in this version',
    customer_city = 'City in this version',
    is_deleted = 'True once the account was closed (soft delete) or removed from the source (hard delete)',
    updated_at = 'When this version was written in the source',
    valid_from = 'When this version became current (1970-01-01 for the versions present at the first build)',
    valid_to = 'When the next version replaced it; NULL for the current version'
  ),
  audits (
    not_null(columns := (customer_id, customer_email, customer_city, updated_at)),
    unique_combination_of_columns(columns := (customer_id, updated_at))
  )
);

-- Not `source` / `latest`: on Spark, SQLMesh's SCD type 2 merge adds CTEs of those names beside ours.
WITH customer_versions AS (
  SELECT id, email, city, updated_at, deleted_at, _deleted, _dlt_load_id
  FROM raw_shop.customers
),

current_customers AS (
  SELECT id, email, city, updated_at, deleted_at, _deleted
  FROM customer_versions
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS customer_id,
  email::TEXT AS customer_email,
  city::TEXT AS customer_city,
  deleted_at IS NOT NULL OR _deleted AS is_deleted,
  updated_at::TIMESTAMP AS updated_at
FROM current_customers
