SELECT customer_id,
       name,
       country
FROM customers
