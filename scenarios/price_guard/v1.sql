SELECT order_id, status, unit_price
FROM orders
