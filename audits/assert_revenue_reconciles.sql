-- Reconciliation: the revenue summed over all days equals the totals of all
-- orders not cancelled, and the order counts agree.
AUDIT (
  name assert_revenue_reconciles
);

WITH daily AS (
  SELECT coalesce(sum(amount_revenue), 0) AS amount_revenue, coalesce(sum(count_orders_placed), 0) AS count_orders_placed
  FROM @this_model
),

orders AS (
  SELECT
    coalesce(sum(amount_total) FILTER (WHERE NOT is_cancelled), 0) AS amount_revenue,
    count(*) AS count_orders_placed
  FROM @orders_model
)

SELECT daily.amount_revenue, orders.amount_revenue AS expected_revenue, daily.count_orders_placed, orders.count_orders_placed AS expected_orders
FROM daily, orders
WHERE daily.amount_revenue IS DISTINCT FROM orders.amount_revenue
   OR daily.count_orders_placed IS DISTINCT FROM orders.count_orders_placed
