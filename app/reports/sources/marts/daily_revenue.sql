-- One row per day: orders placed, cancellations and revenue (EUR).
select revenue_date, count_orders, count_cancelled_orders, amount_revenue, amount_average_order_value
from marts.daily_revenue
