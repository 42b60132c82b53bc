-- One row per live order, with its customer's city for filtering.
select
  orders.order_id,
  orders.customer_id,
  orders.order_status,
  orders.order_date,
  orders.amount_total,
  orders.count_items,
  orders.count_units,
  orders.amount_paid,
  orders.is_cancelled,
  coalesce(customers.customer_city, 'unknown') as customer_city
from marts.fct_orders as orders
left join marts.dim_customers as customers
  on orders.customer_id = customers.customer_id
