SELECT order_id, customer_id, status FROM orders
