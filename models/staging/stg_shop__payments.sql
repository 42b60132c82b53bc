MODEL (
  name staging.stg_shop__payments,
  kind FULL,
  owner data_platform,
  grain payment_id,
  description 'One row per payment: the latest version of each payment in the shop source.',
  audits (
    not_null(columns := (payment_id, order_id, amount_paid, payment_method, paid_at)),
    unique_values(columns := (payment_id)),
    accepted_range(column := amount_paid, min_v := 0),
    accepted_values(column := payment_method, is_in := ('card', 'paypal', 'bank_transfer', 'gift_card'))
  )
);

WITH source AS (
  SELECT id, order_id, amount, method, paid_at, updated_at, _dlt_load_id
  FROM raw_shop.payments
),

latest AS (
  SELECT id, order_id, amount, method, paid_at, updated_at
  FROM source
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
)

SELECT
  id::BIGINT AS payment_id, -- The source's payment id
  order_id::BIGINT AS order_id, -- The order paid
  amount::DECIMAL(12, 2) AS amount_paid, -- Amount paid, in EUR
  method::TEXT AS payment_method, -- card, paypal, bank_transfer or gift_card
  paid_at::TIMESTAMP AS paid_at, -- When the payment was taken
  updated_at::TIMESTAMP AS updated_at -- When this version was written in the source
FROM latest
