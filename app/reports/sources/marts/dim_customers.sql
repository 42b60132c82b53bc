-- One row per live customer; the email address stays out of the reports.
select customer_id, customer_name, customer_city, created_at, count_orders, amount_lifetime_value, first_order_date, last_order_date
from marts.dim_customers
