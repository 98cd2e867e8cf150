SELECT order_id, status, quantity * unit_price AS amount
FROM orders
