SELECT order_id, order_date, status
FROM orders
