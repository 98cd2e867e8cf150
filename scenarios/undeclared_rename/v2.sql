SELECT order_id, status, unit_price * quantity AS total
FROM orders
