SELECT order_id, customer_id, quantity, unit_price,
       quantity * CAST(unit_price AS DECIMAL(12, 3)) AS line_total
FROM orders
