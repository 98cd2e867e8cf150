-- Orders that left the warehouse.
SELECT order_id, customer_id, status, quantity
FROM orders
WHERE status IN ('shipped', 'delivered')
