SELECT order_id, customer_id, status, quantity * unit_price AS amount
FROM orders
