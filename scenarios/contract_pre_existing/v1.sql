-- One row per customer and address: customers with two addresses repeat.
SELECT c.customer_id, c.name, a.city
FROM customers c
JOIN addresses a ON a.customer_id = c.customer_id
