-- Cities now in upper case; the join is as it was.
SELECT c.customer_id, c.name, upper(a.city) AS city
FROM customers c
JOIN addresses a ON a.customer_id = c.customer_id
