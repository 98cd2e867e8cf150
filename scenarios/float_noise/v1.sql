SELECT order_id, quantity * unit_price * 1.0825 AS gross
FROM orders
