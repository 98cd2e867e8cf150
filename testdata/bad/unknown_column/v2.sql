SELECT order_id, customer_idd, status FROM orders
