SELECT c.country, o.status
FROM orders o
JOIN customers c ON c.customer_id = o.customer_id
