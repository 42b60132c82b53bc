-- Reconciliation of order totals with their lines, over the interval being
-- built: each order's total equals the sum of its line amounts, and every line
-- belongs to an order of the orders model (referential integrity).
AUDIT (
  name assert_order_totals_match_items
);

WITH lines AS (
  SELECT order_id, sum(amount_line) AS amount_lines
  FROM @this_model
  GROUP BY order_id
),

orders AS (
  SELECT order_id, amount_total
  FROM @orders_model
  WHERE ordered_at BETWEEN @start_ts AND @end_ts
)

SELECT
  coalesce(orders.order_id, lines.order_id) AS order_id,
  orders.amount_total,
  lines.amount_lines
FROM orders
FULL OUTER JOIN lines
  ON orders.order_id = lines.order_id
WHERE orders.order_id IS NULL
   OR coalesce(lines.amount_lines, 0) <> orders.amount_total
