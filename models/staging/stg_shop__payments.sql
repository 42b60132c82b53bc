MODEL (
  name staging.stg_shop__payments,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key payment_id
  ),
  owner data_platform,
  cron '@daily',
  grain payment_id,
  description 'One row per payment: the latest version of each payment in the shop source, hard deletes flagged, with the time its order was placed.',
  audits (
    not_null(columns := (payment_id, order_id, amount_paid, payment_method, paid_at, ordered_at)),
    unique_values(columns := (payment_id)),
    accepted_range(column := amount_paid, min_v := 0),
    accepted_values(column := payment_method, is_in := ('card', 'paypal', 'bank_transfer', 'gift_card'))
  )
);

WITH source AS (
  SELECT id, order_id, amount, method, paid_at, updated_at, _deleted, _dlt_load_id
  FROM raw_shop.payments
  -- only the keys of loads not merged yet (all on a full build), and of the orders they join: a row may land a load before its order
  WHERE @unmerged_keys(raw_shop.payments, id) OR @unmerged_keys(raw_shop.orders, order_id, id)
),

-- An order's placing time never changes; the marts take its payments by it. Only the orders read above.
orders AS (
  SELECT DISTINCT id AS order_id, ordered_at
  FROM raw_shop.orders
  WHERE id IN (SELECT order_id FROM source)
),

latest AS (
  SELECT source.id, source.order_id, source.amount, source.method, source.paid_at, source.updated_at, source._deleted, orders.ordered_at
  FROM source
  INNER JOIN orders
    ON source.order_id = orders.order_id
  QUALIFY row_number() OVER (PARTITION BY source.id ORDER BY source.updated_at DESC, source._dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS payment_id, -- The source's payment id
  order_id::BIGINT AS order_id, -- The order paid
  amount::DECIMAL(12, 2) AS amount_paid, -- Amount paid, in EUR
  method::TEXT AS payment_method, -- card, paypal, bank_transfer or gift_card
  paid_at::TIMESTAMP AS paid_at, -- When the payment was taken
  ordered_at::TIMESTAMP AS ordered_at, -- When its order was placed
  updated_at::TIMESTAMP AS updated_at, -- When this version was written in the source
  _deleted AS is_deleted -- True when it is gone from the source (hard delete)
FROM latest
