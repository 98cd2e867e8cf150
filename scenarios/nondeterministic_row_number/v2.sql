-- "Simplified": the tie-breaker is gone, so which tied order is kept
-- depends on the order rows arrive in.
SELECT customer_id, order_id, quantity
FROM (
    SELECT customer_id, order_id, quantity,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY quantity DESC) AS rn
    FROM orders
) ranked
WHERE rn = 1
