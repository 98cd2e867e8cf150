SELECT customer_id,
       CASE WHEN customer_id IN (7, 19) THEN upper(name) ELSE name END AS name,
       country
FROM customers
