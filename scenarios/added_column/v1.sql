SELECT order_id, customer_id, quantity, unit_price
FROM orders
