-- Each customer's biggest order; ties go to the lowest order id.
SELECT customer_id, order_id, quantity
FROM (
    SELECT customer_id, order_id, quantity,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY quantity DESC, order_id) AS rn
    FROM orders
) ranked
WHERE rn = 1
