SELECT o.order_id,
       c.country,
       o.quantity * o.unit_price AS amount
FROM orders o
JOIN customers c ON c.customer_id = o.customer_id
