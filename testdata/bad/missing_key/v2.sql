SELECT order_id AS id, customer_id, status FROM orders
