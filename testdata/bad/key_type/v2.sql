SELECT CAST(order_id AS VARCHAR) AS order_id, customer_id, status FROM orders
